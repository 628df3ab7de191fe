/** The real HAProxy for tests: one helper for tests and benches (bench/lib/haproxy.ts). */
export { findHaproxy, freePort, HAPROXY_CFG, startHaproxy, type Backend, type RunningHaproxy } from '../../bench/lib/haproxy.js';
