import { ConfigError } from '../config/config-error.js';
import { VersionNotImplementedError } from '../util/errors.js';
import { CwltoolEngine } from './cwltool.js';
import type { Engine } from './engine.js';
import { ToilCwlEngine } from './toil/toil-cwl.js';
import { ToilPythonEngine } from './toil/toil-python.js';
import { ToilWdlEngine } from './toil/toil-wdl.js';

/**
 * The engines this server offers, per workflow type, with the default one of
 * each type first. Some engines are known only once a probe has run (which
 * Python can import Toil): those join when it ends (`settled`), so that the
 * server need not wait for the probe to answer. The probe starts when
 * `settled` is first asked for (the server asks once it listens).
 */
export class EngineRegistry {
  private list: Engine[] = [];
  private readonly byId = new Map<string, Engine>();
  private joined: Promise<void> | undefined;

  constructor(
    engines: readonly Engine[],
    /** Probes for engines not known yet (null: not on this machine). */
    private readonly later?: () => Promise<readonly (Engine | null)[]>,
    /** The default engine of some types (see `preferring`). */
    private readonly defaults: Readonly<Record<string, string>> = {},
  ) {
    for (const e of engines) this.add(e);
  }

  /** Settles once the engines probed for have joined (at once when there are none); starts the probes. */
  get settled(): Promise<void> {
    this.joined ??= this.later
      ? this.later().then(
          (found) => {
            for (const e of found) if (e && !this.byId.has(e.id)) this.add(e);
            this.list = ordered(this.list, this.defaults);
          },
          () => undefined,
        )
      : Promise.resolve();
    return this.joined;
  }

  private add(e: Engine): void {
    if (this.byId.has(e.id)) throw new Error(`duplicate engine id ${e.id}`);
    this.byId.set(e.id, e);
    this.list.push(e);
  }

  /** Every engine offered so far, the default of each type first among its type. */
  get engines(): readonly Engine[] {
    return this.list;
  }

  /** Upper-case workflow types, in registry order. */
  types(): string[] {
    return [...new Set(this.engines.map((e) => e.workflowType))];
  }

  forType(type: string): Engine[] {
    const t = type.toUpperCase();
    return this.engines.filter((e) => e.workflowType === t);
  }

  byName(id: string): Engine | undefined {
    return this.byId.get(id);
  }

  /** Versions of a workflow type that at least one engine runs. */
  typeVersions(type: string): string[] {
    return [...new Set(this.forType(type).flatMap((e) => e.workflowTypeVersions))];
  }

  /**
   * The engine for a submission: the named one (`workflow_engine`), else the
   * type's default. Throws 400 when none fits.
   */
  resolve(type: string, engineName?: string): Engine {
    const candidates = this.forType(type);
    if (candidates.length === 0) throw new VersionNotImplementedError(`workflow_type '${type}' is not supported.`);
    if (engineName === undefined || engineName === '') return candidates[0]!;
    const found = candidates.find((e) => e.name.toLowerCase() === engineName.toLowerCase());
    if (!found) {
      throw new VersionNotImplementedError(
        `workflow_engine '${engineName}' is not supported for workflow_type '${type.toUpperCase()}'; choose one of ${candidates.map((e) => `'${e.name}'`).join(', ')}.`,
      );
    }
    return found;
  }

  /**
   * The same engines with a chosen default for some workflow types
   * (`{CWL: 'toil'}`): that engine first of its type. Throws when a type or
   * an engine is not offered here.
   */
  preferring(defaults: Readonly<Record<string, string>>): EngineRegistry {
    for (const [type, name] of Object.entries(defaults)) {
      const candidates = this.forType(type);
      if (!candidates.some((e) => e.name.toLowerCase() === name.toLowerCase())) {
        throw new ConfigError(
          candidates.length === 0
            ? `--default-engine ${type}=${name}: this server runs no ${type} workflows.`
            : `--default-engine ${type}=${name}: ${type} runs on ${candidates.map((e) => `'${e.name}'`).join(', ')}.`,
        );
      }
    }
    return new EngineRegistry(ordered(this.list, defaults), this.later, defaults);
  }

  /** Installed version of each engine, keyed by its public name (once the background probes have ended). */
  async versions(): Promise<Record<string, string[]>> {
    await this.settled;
    const out: Record<string, string[]> = {};
    await Promise.all(
      this.engines.map(async (e) => {
        const v = await e.detectVersion();
        const list = (out[e.name] ??= []);
        if (v && !list.includes(v)) list.push(v);
      }),
    );
    return out;
  }
}

/**
 * How to make each engine the embedded default offers, by id, in registry
 * order (the first of a workflow type is its default). Async because some
 * engines find out what they can run (which Python can import Toil); null
 * means the engine is not available on this machine.
 */
const engineFactories: Record<string, () => Promise<Engine | null>> = {
  cwltool: async () => new CwltoolEngine(),
  'toil-cwl': async () => new ToilCwlEngine(),
  'toil-wdl': async () => new ToilWdlEngine(),
  'toil-python': () => (toilPython ??= ToilPythonEngine.detect()),
};
/**
 * The interpreter probe runs once per process. Registry order is this
 * object's: the first engine of a type is its default.
 */
let toilPython: Promise<ToilPythonEngine | null> | undefined;

/**
 * The engines the embedded default offers: those that need no probe at once,
 * the others (Toil Python) joining when their probe ends.
 */
export async function defaultEngineRegistry(): Promise<EngineRegistry> {
  const { 'toil-python': probed, ...immediate } = engineFactories;
  const engines = await Promise.all(Object.values(immediate).map((make) => make()));
  return new EngineRegistry(
    engines.filter((e): e is Engine => e !== null),
    () => Promise.all([probed!()]),
  );
}

/**
 * One engine by id, without making the others (a run's supervisor needs only
 * its own, and some engines cost a probe to make).
 */
export async function createEngine(id: string): Promise<Engine | null> {
  const make = engineFactories[id];
  return make ? make() : null;
}

/** `engines` with the chosen default of some types (`{CWL: 'toil'}`) first of its type. */
function ordered(engines: readonly Engine[], defaults: Readonly<Record<string, string>>): Engine[] {
  let out = [...engines];
  for (const [type, name] of Object.entries(defaults)) {
    const chosen = out.find((e) => e.workflowType === type.toUpperCase() && e.name.toLowerCase() === name.toLowerCase());
    if (chosen) out = [chosen, ...out.filter((e) => e !== chosen)];
  }
  return out;
}
