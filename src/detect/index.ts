/** Detections over committed events (docs/detections.md). */
export { Detector, rebuildFromLedger, type DetectorOptions, type RebuildResult } from './detector.js';
export { defaultDetectionConfig, loadDetectionConfig, parseDetectionConfig, type DetectionConfig } from './config.js';
export { DETECTION_RULES, detectionToEvent, type Detection, type DetectionRule } from './finding.js';
export { parseCron, type CronSchedule } from './cron.js';
export { networkOf } from './network.js';
