/** Thrown for bad flags or environment values; the CLI prints the message (with the usage when a flag is unknown or malformed). */
export class ConfigError extends Error {
  override name = 'ConfigError';

  constructor(
    message: string,
    /** Whether the usage text helps (a flag the parser does not know, or one without its value); else the one line says it all. */
    readonly showUsage = false,
  ) {
    super(message);
  }
}
