import v8 from 'node:v8';

/** V8's own factor (semi-space size doubles when it grows), put back afterwards. */
const V8_DEFAULT_GROWTH = 2;
const FLAG = 'semi-space-growth-factor';

/** Whether whoever started Node chose the factor on its command line (NODE_OPTIONS cannot carry it): then it is left alone. */
function chosenByUser(): boolean {
  return process.execArgv.some((a) => a.includes(FLAG) || a.includes(FLAG.replace(/-/g, '_')));
}

/**
 * Runs `fn` with V8's young generation held at the size it has, then lets it
 * grow as usual again.
 *
 * The server's start reads a whole run index in one burst of objects that
 * live just long enough to survive a scavenge or two; V8 answers that by
 * growing its young generation to its largest (16 MiB a semi-space, 32 MiB
 * resident at 100k runs stored) and keeps it so until a later full
 * collection shrinks it, though nothing after the start needs it. Held
 * during the start, the burst costs more scavenges instead (each small);
 * requests afterwards grow it as they would in any server. The factor is a
 * V8 flag read at each growth, so it can be changed while running.
 */
export async function withYoungGenerationHeld<T>(fn: () => Promise<T>): Promise<T> {
  if (chosenByUser()) return fn();
  v8.setFlagsFromString(`--${FLAG}=1`);
  try {
    return await fn();
  } finally {
    v8.setFlagsFromString(`--${FLAG}=${V8_DEFAULT_GROWTH}`);
  }
}
