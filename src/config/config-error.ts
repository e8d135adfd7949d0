/** Thrown for bad flags or environment values; the CLI prints it with the usage. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
