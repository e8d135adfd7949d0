/**
 * Domain errors. Each carries the HTTP status it maps to, so the one error
 * handler in the API layer can turn any of them into the WES error body
 * `{"msg", "status_code"}` without knowing the individual classes.
 */
export class WesError extends Error {
  readonly statusCode: number;
  /** Extra response headers (e.g. Retry-After on 503). */
  readonly headers: Record<string, string>;

  constructor(statusCode: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = new.target.name;
    this.statusCode = statusCode;
    this.headers = headers;
  }
}

/** The request is malformed (400). */
export class MalformedRequestError extends WesError {
  constructor(message: string) {
    super(400, message);
  }
}

/** No run with this id (404). */
export class WorkflowNotFoundError extends WesError {
  constructor(runId: string) {
    super(404, `Workflow run '${runId}' not found.`);
  }
}

/** Something else that was asked for does not exist (404). */
export class NotFoundError extends WesError {
  constructor(message: string) {
    super(404, message);
  }
}

/** The run is not in a state that allows the request (400, as Toil answers). */
export class WorkflowConflictError extends WesError {
  constructor(message: string) {
    super(400, message);
  }
}

/** A workflow type or version this server does not run (400). */
export class VersionNotImplementedError extends WesError {
  constructor(message: string) {
    super(400, message);
  }
}

/** The request is understood but not allowed (403). */
export class OperationForbiddenError extends WesError {
  constructor(message: string) {
    super(403, message);
  }
}

/** The body or one of its parts is larger than the configured limit (413). */
export class PayloadTooLargeError extends WesError {
  constructor(message: string) {
    super(413, message);
  }
}

/** The request's content type is not one the operation accepts (415). */
export class UnsupportedMediaTypeError extends WesError {
  constructor(message: string) {
    super(415, message);
  }
}

/** The server cannot take more work right now (503, with Retry-After). */
export class ServiceUnavailableError extends WesError {
  constructor(message: string, retryAfterSeconds = 5) {
    super(503, message, { 'retry-after': String(retryAfterSeconds) });
  }
}

/** The server failed while doing something it should have been able to do (500). */
export class WorkflowExecutionError extends WesError {
  constructor(message: string) {
    super(500, message);
  }
}

/** Node's error code of a failed system call, if any. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
