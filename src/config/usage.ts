/** Usage text for `ferry serve --help`. */
export const usage = `Usage: ferry serve [options]

  --host HOST                  address to listen on (default 127.0.0.1)      FERRY_HOST
  --port PORT                  port (default 8080)                            FERRY_PORT
  --work-dir DIR               run folders (default ./ferry-work)             FERRY_WORK_DIR
  --state-store DIR            per-run state (default <work-dir>/state_store) FERRY_STATE_STORE
  --opt '[ENGINE:]--flag[=v]'  default engine option, repeatable              FERRY_OPTS (';'-separated)
  --wes-dialect standard|agc   answer dialect (default standard)              FERRY_WES_DIALECT
  --cors                       send CORS headers                              FERRY_CORS
  --cors-origins A,B           allowed origins (default *)                    FERRY_CORS_ORIGINS
  --log-level LEVEL            pino level (default info)                      FERRY_LOG_LEVEL
  --log-format json|pretty|auto  log lines as JSON, or for people (default auto: pretty on a terminal)  FERRY_LOG_FORMAT
  --log-file FILE              also write the log to FILE                     FERRY_LOG_FILE
  --log-rotate                 rotate the log file at 1 MB, keeping FILE.1    FERRY_LOG_ROTATE
  --metrics-listen HOST:PORT|off  Prometheus metrics at /metrics (default 127.0.0.1:9464)  FERRY_METRICS_LISTEN
  --metrics-on-api             also GET /metrics on the API port, admins only FERRY_METRICS_ON_API
  --api-docs on|off            Swagger UI at /ga4gh/wes/v1/docs (default on)  FERRY_API_DOCS
  --validate-responses         check every response against the spec, log misfits  FERRY_VALIDATE_RESPONSES
  --max-concurrent-runs N      engines running at once (default 4; with Slurm, jobs submitted at once: 100)  FERRY_MAX_CONCURRENT_RUNS
  --max-queued-runs N          runs waiting for a slot before 503 (default 1000)  FERRY_MAX_QUEUED_RUNS
  --max-submissions-per-minute N  accepted runs per user (or client address) a minute, past it 429; 0 = no limit  FERRY_MAX_SUBMISSIONS_PER_MINUTE
  --default-page-size N        (default 100)                                  FERRY_DEFAULT_PAGE_SIZE
  --max-page-size N            (default 1000)                                 FERRY_MAX_PAGE_SIZE
  --max-attachment-bytes N     largest attachment (default 1 GiB)             FERRY_MAX_ATTACHMENT_BYTES
  --max-attachments N          most attachments per run (default 1000)        FERRY_MAX_ATTACHMENTS
  --max-zip-entries N          most entries in a workflow.zip (default 10000) FERRY_MAX_ZIP_ENTRIES
  --max-zip-bytes N            most bytes a workflow.zip unpacks to (default 1 GiB)  FERRY_MAX_ZIP_BYTES
  --allowed-file-root DIR      allow file:// workflow URLs under DIR, repeatable  FERRY_ALLOWED_FILE_ROOTS (':'-separated)
  --cancel-grace-seconds S     SIGTERM to SIGKILL on cancel (default 5)       FERRY_CANCEL_GRACE_SECONDS
  --default-engine TYPE=ENGINE the engine a type runs on when none is named (e.g. CWL=toil), repeatable  FERRY_DEFAULT_ENGINES (':'-separated)
  --retention-days N           delete finished runs N days after they ended; 0 = keep forever (default)  FERRY_RETENTION_DAYS
  --executor local|slurm       where each run's engine runs: here (default), or as a Slurm batch job  FERRY_EXECUTOR
  --slurm-opt '--flag=v'       sbatch option every run's job gets, repeatable  FERRY_SLURM_OPTS (';'-separated)
  --slurm-partitions A,B       partitions a run may ask for (default: the cluster's)  FERRY_SLURM_PARTITIONS
  --slurm-poll-seconds S       how often the queue is read, one squeue for all runs (default 2)  FERRY_SLURM_POLL_SECONDS
  --task-runner supervisor|inline  runs in detached supervisors that outlive the server (default), or inside it  FERRY_TASK_RUNNER
  --allow-private-downloads    let http(s) workflow URLs reach private/loopback addresses
  --public-url URL             the URL clients reach Ferry at, base of its links (default: each request's own)  FERRY_PUBLIC_URL
  --trust-proxy                take X-Forwarded-For/Proto/Host/Prefix from the proxy in front  FERRY_TRUST_PROXY
  --workflow-allow-list FILE   run only listed workflows (sha256, URL prefixes) FERRY_WORKFLOW_ALLOW_LIST
  --auth-htpasswd FILE         HTTP Basic logins, bcrypt entries (htpasswd -B)  FERRY_AUTH_HTPASSWD
  --auth-tokens FILE           bearer tokens, 'USER SHA256HEX' per line        FERRY_AUTH_TOKENS
  --oidc-issuer URL            take JWTs this OpenID Connect issuer signs       FERRY_OIDC_ISSUER
  --oidc-audience AUD          their 'aud' must include AUD (needed with an issuer)  FERRY_OIDC_AUDIENCE
  --oidc-jwks-uri URL          the issuer's keys (default: from its discovery document)  FERRY_OIDC_JWKS_URI
  --oidc-user-claim NAME       the claim naming the user (default sub)         FERRY_OIDC_USER_CLAIM
  --oidc-admin-claim NAME=VALUE  admin when the claim is or contains VALUE, repeatable  FERRY_OIDC_ADMIN_CLAIMS (';'-separated)
  --admin USER                 a user who sees and cancels every run, repeatable FERRY_ADMINS (':'-separated)
  --auth-instructions-url URL  where clients learn to get credentials          FERRY_AUTH_INSTRUCTIONS_URL
  --sandbox auto|bwrap|none    run each workflow in a bubblewrap sandbox (default auto: bwrap when it works here)  FERRY_SANDBOX
  --sandbox-network on|off     whether sandboxed runs reach the network (default on)  FERRY_SANDBOX_NETWORK
  --no-auth                    serve a non-loopback --host without authentication FERRY_NO_AUTH
  --version                    print the version and exit

Toil's underscore spellings (--work_dir, --state_store, --wes_dialect, --cors_origins, --logLevel) work too,
and every other option of 'toil server': --logCritical --logError --logWarning --logInfo --logDebug --logOff
--logFile --rotatingLogging --debug --swagger_ui -o (--opt) -w/--workers N --bypass_celery (the last two are
taken and logged: Ferry has no workers or Celery). --dest_bucket_base is refused: Ferry writes to no object store.
`;
