/** Redaction at ingest: masks secrets before a record is chained (docs/redaction.md). */
export { Redactor, redactRecord } from './redactor.js';
export { loadRedactionConfig, parseRedactionConfig, defaultRedactionConfig, type RedactionConfig } from './config.js';
export { loadOrCreateRedactionKey, redactionKeyFrom, rawHmac, type RedactionKey } from './key.js';
export { REDACTION_RULES, builtinPatterns, luhnValid, maskOf, type BuiltinRuleId } from './patterns.js';
