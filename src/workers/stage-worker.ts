/**
 * The stage worker's script (worker_threads): answers each batch of frames the pool sends with the
 * prepared rows (src/workers/stage-batch.ts). Its only code is the start.
 */
import { serveStageBatches } from './stage-batch.js';

serveStageBatches();
