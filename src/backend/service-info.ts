import type { components } from '../../generated/schema.js';
import type { FerryConfig } from '../config/config.js';
import { serverOptionsFor } from '../engines/option-policy.js';
import type { EngineRegistry } from '../engines/registry.js';
import type { RunListing } from './run-listing.js';

type ServiceInfo = components['schemas']['ServiceInfo'];

/** What this server is and offers: GA4GH service-info with WES's fields. */
export class ServiceInfoView {
  private readonly startedAt = new Date();

  constructor(
    private readonly config: FerryConfig,
    private readonly engines: EngineRegistry,
    private readonly listing: RunListing,
    /** Ferry's own version. */
    private readonly version: string,
  ) {}

  async describe(): Promise<ServiceInfo> {
    const { config, engines } = this;
    const workflowTypeVersions: ServiceInfo['workflow_type_versions'] = {};
    for (const type of engines.types()) workflowTypeVersions[type] = { workflow_type_version: engines.typeVersions(type) };
    const engineVersions: ServiceInfo['workflow_engine_versions'] = {};
    for (const [name, versions] of Object.entries(await engines.versions())) engineVersions[name] = { workflow_engine_version: versions };
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
