// A stage worker for the pool's tests (test/workers/pool.test.ts): the production batch handler of
// the build (dist/src/workers/stage-batch.js), started with hooks that a frame's text sets off.
// scriptData: { fail?, exit?, hang?, unencodable? }: a frame whose `app[procid] message` contains it
//   fail         throws inside the stages
//   exit         ends the worker thread (process.exit)
//   hang         never finishes (a busy loop: a stage that hangs)
//   unencodable  gets a class_uid the row encoding refuses (int4), after the stages
import { workerData } from 'node:worker_threads';
import { serveStageBatches } from '../../dist/src/workers/stage-batch.js';

const markers = workerData.scriptData ?? {};
const text = (syslog) => `${syslog.app_name ?? ''}[${syslog.procid ?? ''}] ${syslog.message ?? ''}`;
const has = (marker, syslog) => marker !== undefined && text(syslog).includes(marker);

serveStageBatches({
  onParsed(parsed) {
    if (has(markers.fail, parsed.syslog)) throw new Error(`test marker ${markers.fail}`);
    if (has(markers.exit, parsed.syslog)) process.exit(1);
    if (has(markers.hang, parsed.syslog)) for (;;);
  },
  onRecord(record) {
    if (has(markers.unencodable, record.syslog)) record.columns.class_uid = 2 ** 40;
  },
});
