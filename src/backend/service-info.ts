import type { components } from '../../generated/schema.js';
import type { FerryConfig } from '../config/config.js';
import { serverOptionsFor } from '../engines/option-policy.js';
import type { Engine } from '../engines/engine.js';
import type { EngineRegistry } from '../engines/registry.js';
import type { RunListing } from './run-listing.js';

type ServiceInfo = components['schemas']['ServiceInfo'];

/** How long service-info waits for the engines' version probes before it answers with what it has. */
export const DEFAULT_PROBE_WAIT_MS = 200;

/**
 * What this server is and offers: GA4GH service-info with WES's fields.
 * The engines' versions are probed in the background from the start (an
 * engine's `--version` can take seconds); service-info waits for them
 * briefly, then answers with the versions found so far.
 */
export class ServiceInfoView {
  private readonly startedAt = new Date();
  /** Versions found so far, by engine name. */
  private readonly found = new Map<string, string[]>();
  private probing: Promise<void> | undefined;

  constructor(
    private readonly config: FerryConfig,
    private readonly engines: EngineRegistry,
    private readonly listing: RunListing,
    /** Ferry's own version. */
    private readonly version: string,
    /** Most time an answer waits for the probes still running. */
    private readonly probeWaitMs = DEFAULT_PROBE_WAIT_MS,
  ) {}

  /** Starts the version probes (once); resolves when every engine's has ended, those that join the registry later included. */
  probe(): Promise<void> {
    this.probing ??= (async () => {
      const asked = new Set<string>();
      const ask = (engines: readonly Engine[]): Promise<void[]> =>
        Promise.all(
          engines.filter((e) => !asked.has(e.id)).map(async (e) => {
            asked.add(e.id);
            if (!this.found.has(e.name)) this.found.set(e.name, []);
            const v = await e.detectVersion().catch(() => null);
            const list = this.found.get(e.name)!;
            if (v && !list.includes(v)) list.push(v);
          }),
        );
      await ask(this.engines.engines);
      await this.engines.settled;
      await ask(this.engines.engines);
    })();
    return this.probing;
  }

  async describe(): Promise<ServiceInfo> {
    const { config, engines } = this;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.probe(), new Promise<void>((resolve) => (timer = setTimeout(resolve, this.probeWaitMs)))]);
    clearTimeout(timer);
    const workflowTypeVersions: ServiceInfo['workflow_type_versions'] = {};
    for (const type of engines.types()) workflowTypeVersions[type] = { workflow_type_version: engines.typeVersions(type) };
    const engineVersions: ServiceInfo['workflow_engine_versions'] = {};
    // Every engine offered, with the versions found so far (none yet while its probe runs).
    for (const e of engines.engines) engineVersions[e.name] = { workflow_engine_version: [...(this.found.get(e.name) ?? [])] };
    // One entry per engine name (Toil's runners for CWL, WDL and PY share the name `toil`).
    const names = [...new Set(engines.engines.map((e) => e.name))];
    const defaults = names.flatMap((name) =>
      serverOptionsFor(config.engineOptions, name).map((o) => ({ name: `${name}:${o.flag}`, type: 'string', default_value: o.value ?? '' })),
    );
    return {
      id: config.serviceId,
      name: config.serviceName,
      type: { group: 'org.ga4gh', artifact: 'wes', version: '1.1.0' },
      description: 'Ferry: a GA4GH Workflow Execution Service running CWL, WDL and Toil Python workflows with cwltool and Toil.',
      organization: { name: config.organizationName, url: config.organizationUrl },
      version: this.version,
      createdAt: this.startedAt.toISOString(),
      environment: 'prod',
      workflow_type_versions: workflowTypeVersions,
      supported_wes_versions: ['1.0.0', '1.1.0'],
      supported_filesystem_protocols: ['file', 'http', 'https'],
      workflow_engine_versions: engineVersions,
      default_workflow_engine_parameters: defaults,
      system_state_counts: await this.listing.stateCounts(),
      auth_instructions_url: config.authInstructionsUrl,
      tags: {
        wes_dialect: config.wesDialect,
        ferry_version: this.version,
        // What isolates runs from each other and from the server (resolved at start: never 'auto').
        sandbox: config.sandbox,
        sandbox_network: config.sandbox === 'none' || config.sandboxNetwork ? 'on' : 'off',
        // Where runs' engines run, and the sbatch options every run's job gets.
        executor: config.executor,
        ...(config.executor === 'slurm' ? { slurm_options: config.slurm.options.join(' ') } : {}),
      },
    };
  }
}
