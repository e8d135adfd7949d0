/** The settings of what the server shows of itself: logs, metrics, API docs. */
import path from 'node:path';
import { ConfigError } from './config-error.js';

/** Where Prometheus scrapes by default: loopback only, the port OpenTelemetry's Prometheus exporter uses. */
export const DEFAULT_METRICS_LISTEN = { host: '127.0.0.1', port: 9464 } as const;

export interface ObservabilitySettings {
  logFormat: 'json' | 'pretty' | 'auto';
  logFile?: string;
  logRotate: boolean;
  metricsListen: { host: string; port: number } | null;
  metricsListenGiven: boolean;
  metricsOnApi: boolean;
  apiDocs: boolean;
}

/** Checks the raw values (flags or environment) and makes paths absolute against `cwd`. */
export function observabilitySettings(
  raw: { logFormat?: string; logFile?: string; logRotate?: boolean; metricsListen?: string; metricsOnApi?: boolean; apiDocs?: string },
  cwd: string,
): ObservabilitySettings {
  const logFormat = raw.logFormat ?? 'auto';
  if (logFormat !== 'json' && logFormat !== 'pretty' && logFormat !== 'auto') throw new ConfigError(`--log-format must be 'json', 'pretty' or 'auto', got '${logFormat}'`);
  const apiDocs = raw.apiDocs ?? 'on';
  if (apiDocs !== 'on' && apiDocs !== 'off') throw new ConfigError(`--api-docs must be 'on' or 'off', got '${apiDocs}'`);
  return {
    logFormat,
    ...(raw.logFile === undefined ? {} : { logFile: path.resolve(cwd, raw.logFile) }),
    // Without a file there is nothing to rotate (Toil takes the switch alone too).
    logRotate: raw.logRotate ?? false,
    metricsListen: raw.metricsListen === undefined ? { ...DEFAULT_METRICS_LISTEN } : parseListen(raw.metricsListen),
    metricsListenGiven: raw.metricsListen !== undefined,
    metricsOnApi: raw.metricsOnApi ?? false,
    apiDocs: apiDocs === 'on',
  };
}

/** `HOST:PORT` (an IPv6 host in brackets), or `off`. */
function parseListen(value: string): { host: string; port: number } | null {
  if (value === 'off') return null;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`--metrics-listen must be HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464) or 'off', got '${value}'`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}
