/** A gate thread that starts, then crashes before it switches anything (for the supervision test). */
import { parentPort } from 'node:worker_threads';

parentPort?.postMessage({ type: 'ready', priority: null, pinned: null, cpu: null });
setTimeout(() => {
  throw new Error('simulated crash of the gate thread');
}, 30);
