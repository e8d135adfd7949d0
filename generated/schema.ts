// DO NOT EDIT — made by scripts/generate.ts from spec/ (run `npm run generate`).
// Edit spec/ferry.yaml or replace the upstream spec files instead; see spec/README.md.
// Types produced by openapi-typescript from generated/openapi.json.

export interface paths {
    "/ga4gh/wes/v1/service-info": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * GetServiceInfo
         * @description May include information related (but not limited to) the workflow descriptor formats, versions supported, the WES API versions supported, and information about general service availability.
         */
        get: operations["GetServiceInfo"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ga4gh/wes/v1/runs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * ListRuns
         * @description This list should be provided in a stable ordering. (The actual ordering is implementation dependent.) When paging through the list, the client should not make assumptions about live updates, but should assume the contents of the list reflect the workflow list at the moment that the first page is requested.  To monitor a specific workflow run, use GetRunStatus or GetRunLog.
         */
        get: operations["ListRuns"];
        put?: never;
        /**
         * RunWorkflow
         * @description This endpoint creates a new workflow run and returns a `RunId` to monitor its progress.
         *     The `workflow_attachment` array may be used to upload files that are required to execute the workflow, including the primary workflow, tools imported by the workflow, other files referenced by the workflow, or files which are part of the input.  The implementation should stage these files to a temporary directory and execute the workflow from there. These parts must have a Content-Disposition header with a "filename" provided for each part.  Filenames may include subdirectories, but must not include references to parent directories with '..' -- implementations should guard against maliciously constructed filenames.
         *     The `workflow_url` is either an absolute URL to a workflow file that is accessible by the WES endpoint, or a relative URL corresponding to one of the files attached using `workflow_attachment`.
         *     The `workflow_params` JSON object specifies input parameters, such as input files.  The exact format of the JSON object depends on the conventions of the workflow language being used.  Input files should either be absolute URLs, or relative URLs corresponding to files uploaded using `workflow_attachment`.  The WES endpoint must understand and be able to access URLs supplied in the input.  This is implementation specific.
         *     The `workflow_type` is the type of workflow language and must be "CWL" or "WDL" currently (or another alternative  supported by this WES instance).
         *     The `workflow_type_version` is the version of the workflow language submitted and must be one supported by this WES instance.
         *     The `workflow_engine` is the engine that supports the workflow_type and must be supported by this WES instance.
         *     The `workflow_engine_version` is the version of workflow engine and must be supported by this WES instance.
         *     See the `RunRequest` documentation for details about other fields.
         */
        post: operations["RunWorkflow"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ga4gh/wes/v1/runs/{run_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * GetRunLog
         * @description This endpoint provides detailed information about a given workflow run. The returned result has information about the outputs produced by this workflow (if available), a log object which allows the stderr and stdout to be retrieved, a log array so stderr/stdout for individual tasks can be retrieved, and the overall state of the workflow run (e.g. RUNNING, see the State section).
         */
        get: operations["GetRunLog"];
        put?: never;
        post?: never;
        /**
         * DeleteRun
         * @description Deletes a finished run (COMPLETE, EXECUTOR_ERROR, SYSTEM_ERROR or CANCELED): its folder (attachments, outputs, logs), its record and its place in the listing. Afterwards every route of the run answers 404 and listings skip it. A run that is not finished yet is refused with 409: cancel it first. Of several DELETEs of one run, one answers 200 and the others 404. Not part of WES 1.1; as in Sapporo and the WES proposal ga4gh/workflow-execution-service-schemas#218.
         */
        delete: operations["DeleteRun"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ga4gh/wes/v1/runs/{run_id}/status": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * GetRunStatus
         * @description This provides an abbreviated (and likely fast depending on implementation) status of the running workflow, returning a simple result with the  overall state of the workflow run (e.g. RUNNING, see the State section).
         */
        get: operations["GetRunStatus"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ga4gh/wes/v1/runs/{run_id}/tasks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * ListTasks
         * @description This endpoint provides a paginated list of tasks that were executed as part of a given workflow run. Task ordering should be the same as what would be returned in a `RunLog` response body.
         */
        get: operations["ListTasks"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ga4gh/wes/v1/runs/{run_id}/tasks/{task_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * GetTask
         * @description This endpoint provides a mechanism to retrieve information on a specific task, if it exists
         */
        get: operations["GetTask"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ga4gh/wes/v1/runs/{run_id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * CancelRun
         * @description Cancel a running workflow.
         */
        post: operations["CancelRun"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/toil/wes/v1/logs/{run_id}/stdout": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * GetRunStdout
         * @description Returns the standard output of the workflow engine for a run, as plain text. This is the URL advertised in `RunLog.run_log.stdout`. Supports a single byte range via the `Range` header.
         */
        get: operations["GetRunStdout"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/toil/wes/v1/logs/{run_id}/stderr": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * GetRunStderr
         * @description Returns the standard error of the workflow engine for a run, as plain text. This is the URL advertised in `RunLog.run_log.stderr`. Supports a single byte range via the `Range` header.
         */
        get: operations["GetRunStderr"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ga4gh/wes/v1/runs/{run_id}/outputs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * ListRunOutputs
         * @description The files in a run's outputs folder, paged, by path, each with its size, its checksum when the engine reported one, and the URL it is fetched from. Links inside the outputs folder count only where they lead to a file inside it.
         */
        get: operations["ListRunOutputs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ga4gh/wes/v1/runs/{run_id}/outputs/{path}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * GetRunOutput
         * @description One file of a run's outputs, streamed, with `Content-Length`, `ETag`, `Last-Modified` and a single byte range via `Range`; `If-None-Match` answers 304 when the file is unchanged. A folder answers its listing as a CWL Directory object. This is where the `location` of every File and Directory in the run log's `outputs` points.
         */
        get: operations["GetRunOutput"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ga4gh/wes/v1/runs/{run_id}/outputs.zip": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * GetRunOutputsZip
         * @description The run's whole outputs folder as one zip archive, streamed as it is made (its length is not known ahead).
         */
        get: operations["GetRunOutputsZip"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/engine/v1/status": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * GetEngineStatus
         * @description Liveness probe. Answers `OK` as plain text while the server is up.
         */
        get: operations["GetEngineStatus"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * GetRoot
         * @description Redirects to the WES service-info endpoint.
         */
        get: operations["GetRoot"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** ServiceInfo */
        ServiceInfo: components["schemas"]["Service"] & {
            workflow_type_versions: {
                [key: string]: components["schemas"]["WorkflowTypeVersion"];
            };
            /** @description The version(s) of the WES schema supported by this service */
            supported_wes_versions: string[];
            /** @description The filesystem protocols supported by this service, currently these may include common protocols using the terms 'http', 'https', 'sftp', 's3', 'gs', 'file', or 'synapse', but others  are possible and the terms beyond these core protocols are currently not fixed.   This section reports those protocols (either common or not) supported by this WES service. */
            supported_filesystem_protocols: string[];
            workflow_engine_versions: {
                [key: string]: components["schemas"]["WorkflowEngineVersion"];
            };
            /** @description Each workflow engine can present additional parameters that can be sent to the workflow engine. This message will list the default values, and their types for each workflow engine. */
            default_workflow_engine_parameters: components["schemas"]["DefaultWorkflowEngineParameter"][];
            system_state_counts: {
                [key: string]: number;
            };
            /** @description A web page URL with human-readable instructions on how to get an authorization token for use with a specific WES endpoint. */
            auth_instructions_url: string;
            tags: {
                [key: string]: string;
            };
        };
        /** RunId */
        RunId: {
            /** @description workflow run ID */
            run_id?: string;
        };
        /**
         * State
         * @description State can take any of the following values:
         *
         *       + UNKNOWN: The state of the task is unknown. This provides a safe default for messages where this field is missing, for example, so that a missing field does not accidentally imply that the state is QUEUED.
         *
         *       + QUEUED: The task is queued.
         *
         *       + INITIALIZING: The task has been assigned to a worker and is currently preparing to run. For example, the worker may be turning on, downloading input files, etc.
         *
         *       + RUNNING: The task is running. Input files are downloaded and the first Executor has been started.
         *
         *       + PAUSED: The task is paused. An implementation may have the ability to pause a task, but this is not required.
         *
         *       + COMPLETE: The task has completed running. Executors have exited without error
         *       and output files have been successfully uploaded.
         *
         *       + EXECUTOR_ERROR: The task encountered an error in one of the Executor processes. Generally,
         *     this means that an Executor exited with a non-zero exit code.
         *
         *       + SYSTEM_ERROR: The task was stopped due to a system error, but not from an Executor,
         *     for example an upload failed due to network issues, the worker's ran out of disk space, etc.
         *
         *       + CANCELED: The task was canceled by the user.
         *
         *       + CANCELING: The task was canceled by the user, and is in the process of stopping.
         *
         *       + PREEMPTED: The task is stopped (preempted) by the system. The reasons for this would be tied to
         *     the specific system running the job. Generally, this means that the system reclaimed the compute capacity for reallocation.
         * @enum {string}
         */
        State: "UNKNOWN" | "QUEUED" | "INITIALIZING" | "RUNNING" | "PAUSED" | "COMPLETE" | "EXECUTOR_ERROR" | "SYSTEM_ERROR" | "CANCELED" | "CANCELING" | "PREEMPTED";
        /**
         * RunStatus
         * @description State information of a workflow run
         */
        RunStatus: {
            run_id: string;
            state?: components["schemas"]["State"];
        };
        /**
         * RunSummary
         * @description Small description of a workflow run
         */
        RunSummary: components["schemas"]["RunStatus"] & {
            /** @description When the run started executing, in ISO 8601 format "%Y-%m-%dT%H:%M:%SZ" */
            start_time?: string;
            /** @description When the run stopped executing (completed, failed, or cancelled), in ISO 8601 format "%Y-%m-%dT%H:%M:%SZ" */
            end_time?: string;
            /** @description Arbitrary key/value tags added by the client during run creation */
            tags: {
                [key: string]: string;
            };
        };
        /**
         * RunRequest
         * @description To execute a workflow, send a run request including all the details needed to begin downloading
         *     and executing a given workflow.
         *     If workflow_engine and workflow_engine_version are not provided, servers can use the most recent workflow_engine_version of workflow_engine that WES instance uses to process the request if
         *     supports for the requested workflow_type.
         */
        RunRequest: {
            /**
             * @description REQUIRED
             *     The workflow run parameterizations (JSON encoded), including input and output file locations
             */
            workflow_params?: Record<string, never>;
            /**
             * @description REQUIRED
             *     The workflow descriptor type, must be "CWL" or "WDL" currently (or another alternative supported by this WES instance)
             */
            workflow_type: string;
            /**
             * @description REQUIRED
             *     The workflow descriptor type version, must be one supported by this WES instance
             */
            workflow_type_version: string;
            tags?: {
                [key: string]: string;
            };
            workflow_engine_parameters?: {
                [key: string]: string;
            };
            /** @description The workflow engine, must be one supported by this WES instance. Required if workflow_engine_version is provided. */
            workflow_engine?: string;
            /** @description The workflow engine version, must be one supported by this WES instance. If workflow_engine is provided, but workflow_engine_version is not, servers can make no assumptions with regard to the engine version the WES instance uses to process the request if  that WES instance supports multiple versions of the requested engine. */
            workflow_engine_version?: string;
            /**
             * @description REQUIRED
             *     The workflow CWL or WDL document. When `workflow_attachments` is used to attach files, the `workflow_url` may be a relative path to one of the attachments.
             */
            workflow_url: string;
        };
        /** RunLog */
        RunLog: {
            /** @description workflow run ID */
            run_id?: string;
            request?: components["schemas"]["RunRequest"];
            state?: components["schemas"]["State"];
            run_log?: components["schemas"]["Log"];
            /** @description A reference to the complete url which may be used to obtain a paginated list of task logs for this workflow */
            task_logs_url?: string;
            /**
             * @deprecated
             * @description The logs, and other key info like timing and exit code, for each step in the workflow run. This field is deprecated and the `task_logs_url` should be used to retrieve a paginated list of steps from the workflow run. This field will be removed in the next major version of the  specification (2.0.0)
             */
            task_logs?: (components["schemas"]["Log"] | components["schemas"]["TaskLog"])[] | null;
            /** @description The outputs from the workflow run. */
            outputs?: Record<string, never>;
        };
        /**
         * Log
         * @description Log and other info
         */
        Log: {
            /** @description The task or workflow name */
            name?: string;
            /** @description The command line that was executed */
            cmd?: string[];
            /** @description When the command started executing, in ISO 8601 format "%Y-%m-%dT%H:%M:%SZ" */
            start_time?: string;
            /** @description When the command stopped executing (completed, failed, or cancelled), in ISO 8601 format "%Y-%m-%dT%H:%M:%SZ" */
            end_time?: string;
            /** @description A URL to retrieve standard output logs of the workflow run or task.  This URL may change between status requests, or may not be available until the task or workflow has finished execution.  Should be available using the same credentials used to access the WES endpoint. */
            stdout?: string;
            /** @description A URL to retrieve standard error logs of the workflow run or task.  This URL may change between status requests, or may not be available until the task or workflow has finished execution.  Should be available using the same credentials used to access the WES endpoint. */
            stderr?: string;
            /**
             * Format: int32
             * @description Exit code of the program
             */
            exit_code?: number;
            /**
             * @description System logs are any logs the system decides are relevant,
             *     which are not tied directly to a workflow.
             *     Content is implementation specific: format, size, etc.
             *
             *     System logs may be collected here to provide convenient access.
             *
             *     For example, the system may include an error message that caused
             *     a SYSTEM_ERROR state (e.g. disk is full), etc.
             */
            system_logs?: string[];
        };
        /**
         * DefaultWorkflowEngineParameter
         * @description A message that allows one to describe default parameters for a workflow engine.
         */
        DefaultWorkflowEngineParameter: {
            /** @description The name of the parameter */
            name?: string;
            /** @description Describes the type of the parameter, e.g. float. */
            type?: string;
            /** @description The stringified version of the default parameter. e.g. "2.45". */
            default_value?: string;
        };
        /**
         * WorkflowTypeVersion
         * @description Available workflow types supported by a given instance of the service.
         */
        WorkflowTypeVersion: {
            /** @description an array of one or more acceptable types for the `workflow_type` */
            workflow_type_version?: string[];
        };
        /**
         * TaskListResponse
         * @description The service will return a TaskListResponse when receiving a successful TaskListRequest.
         */
        TaskListResponse: {
            /** @description The logs, and other key info like timing and exit code, for each step in the workflow run. */
            task_logs?: components["schemas"]["TaskLog"][];
            /** @description A token which may be supplied as `page_token` in workflow run task list request to get the next page of results.  An empty string indicates there are no more items to return. */
            next_page_token?: string;
        };
        /**
         * TaskLog
         * @description Runtime information for a given task
         */
        TaskLog: WithRequired<components["schemas"]["Log"], "name"> & {
            /** @description A unique identifier which may be used to reference the task */
            id: string;
            /**
             * @description System logs are any logs the system decides are relevant,
             *     which are not tied directly to a task.
             *     Content is implementation specific: format, size, etc.
             *
             *     System logs may be collected here to provide convenient access.
             *
             *     For example, the system may include the name of the host
             *     where the task is executing, an error message that caused
             *     a SYSTEM_ERROR state (e.g. disk is full), etc.
             */
            system_logs?: string[];
            /** @description An optional URL pointing to an extended task definition defined by a [TES api](https://github.com/ga4gh/task-execution-schemas) */
            tes_uri?: string;
        };
        /**
         * WorkflowEngineVersion
         * @description Available workflow engine versions supported by a given instance of the service.
         */
        WorkflowEngineVersion: {
            /** @description An array of one or more acceptable engines versions for the `workflow_engine` */
            workflow_engine_version?: string[];
        };
        /**
         * RunListResponse
         * @description The service will return a RunListResponse when receiving a successful RunListRequest. DEPRECIATION WARNING: The use of `RunStatus` as the schema for `runs` array items will not be permitted from the next major version of the specification (2.0.0) onwards. We encourage implementers to use `RunSummary` instead.
         */
        RunListResponse: {
            /** @description A list of workflow runs that the service has executed or is executing. The list is filtered to only include runs that the caller has permission to see. */
            runs?: (components["schemas"]["RunStatus"] | components["schemas"]["RunSummary"])[];
            /** @description A token which may be supplied as `page_token` in workflow run list request to get the next page of results.  An empty string indicates there are no more items to return. */
            next_page_token?: string;
        };
        /**
         * ErrorResponse
         * @description An object that can optionally include information about the error.
         */
        ErrorResponse: {
            /** @description A detailed error message. */
            msg?: string;
            /**
             * Format: int32
             * @description The integer representing the HTTP status code (e.g. 200, 404).
             */
            status_code?: number;
        };
        /** @description Type of a GA4GH service */
        ServiceType: {
            /**
             * @description Namespace in reverse domain name format. Use `org.ga4gh` for implementations compliant with official GA4GH specifications. For services with custom APIs not standardized by GA4GH, or implementations diverging from official GA4GH specifications, use a different namespace (e.g. your organization's reverse domain name).
             * @example org.ga4gh
             */
            group: string;
            /**
             * @description Name of the API or GA4GH specification implemented. Official GA4GH types should be assigned as part of standards approval process. Custom artifacts are supported.
             * @example beacon
             */
            artifact: string;
            /**
             * @description Version of the API or specification. GA4GH specifications use semantic versioning.
             * @example 1.0.0
             */
            version: string;
        };
        /** @description GA4GH service */
        Service: {
            /**
             * @description Unique ID of this service. Reverse domain name notation is recommended, though not required. The identifier should attempt to be globally unique so it can be used in downstream aggregator services e.g. Service Registry.
             * @example org.ga4gh.myservice
             */
            id: string;
            /**
             * @description Name of this service. Should be human readable.
             * @example My project
             */
            name: string;
            type: components["schemas"]["ServiceType"];
            /**
             * @description Description of the service. Should be human readable and provide information about the service.
             * @example This service provides...
             */
            description?: string;
            /** @description Organization providing the service */
            organization: {
                /**
                 * @description Name of the organization responsible for the service
                 * @example My organization
                 */
                name: string;
                /**
                 * Format: uri
                 * @description URL of the website of the organization (RFC 3986 format)
                 * @example https://example.com
                 */
                url: string;
            };
            /**
             * Format: uri
             * @description URL of the contact for the provider of this service, e.g. a link to a contact form (RFC 3986 format), or an email (RFC 2368 format).
             * @example mailto:support@example.com
             */
            contactUrl?: string;
            /**
             * Format: uri
             * @description URL of the documentation of this service (RFC 3986 format). This should help someone learn how to use your service, including any specifics required to access data, e.g. authentication.
             * @example https://docs.myservice.example.com
             */
            documentationUrl?: string;
            /**
             * Format: date-time
             * @description Timestamp describing when the service was first deployed and available (RFC 3339 format)
             * @example 2019-06-04T12:58:19Z
             */
            createdAt?: string;
            /**
             * Format: date-time
             * @description Timestamp describing when the service was last updated (RFC 3339 format)
             * @example 2019-06-04T12:58:19Z
             */
            updatedAt?: string;
            /**
             * @description Environment the service is running in. Use this to distinguish between production, development and testing/staging deployments. Suggested values are prod, test, dev, staging. However this is advised and not enforced.
             * @example test
             */
            environment?: string;
            /**
             * @description Version of the service being described. Semantic versioning is recommended, but other identifiers, such as dates or commit hashes, are also allowed. The version should be changed whenever the service is updated.
             * @example 1.0.0
             */
            version: string;
        };
        RunOutputList: {
            outputs: components["schemas"]["RunOutputFile"][];
            /** @description Empty on the last page. */
            next_page_token: string;
        };
        RunOutputFile: {
            /** @description The file's path inside the run's outputs folder, `/`-separated. */
            path: string;
            /** Format: int64 */
            size: number;
            /** @description As the engine reported it (CWL's `sha1$…`), when it did. */
            checksum?: string;
            /** @description The URL the file is fetched from. */
            location: string;
        };
        OutputDirectory: {
            /** @enum {string} */
            class: "Directory";
            basename: string;
            location: string;
            listing: {
                /** @enum {string} */
                class: "File" | "Directory";
                basename: string;
                location: string;
                /** Format: int64 */
                size?: number;
            }[];
        };
    };
    responses: {
        /** @description The whole log (possibly empty). */
        LogContent: {
            headers: {
                "Accept-Ranges": components["headers"]["AcceptRanges"];
                [name: string]: unknown;
            };
            content: {
                "text/plain": string;
            };
        };
        /** @description The requested byte range of the log. */
        LogPartialContent: {
            headers: {
                "Content-Range": components["headers"]["ContentRange"];
                "Accept-Ranges": components["headers"]["AcceptRanges"];
                [name: string]: unknown;
            };
            content: {
                "text/plain": string;
            };
        };
        /** @description The requested workflow run wasn't found. */
        RunNotFound: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description The request is malformed. */
        BadRequest: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description The request is unauthorized. */
        Unauthorized: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description The requester is not authorized to perform this action. */
        Forbidden: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description An unexpected error occurred. */
        ServerError: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
        /** @description The requested range cannot be satisfied by the log's current size. */
        RangeNotSatisfiable: {
            headers: {
                "Content-Range": components["headers"]["UnsatisfiedContentRange"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["ErrorResponse"];
            };
        };
    };
    parameters: {
        /** @description The workflow run ID. */
        RunIdPath: string;
        /** @description OPTIONAL Only runs in one of these states; repeat the parameter for several (`state=RUNNING&state=QUEUED`). A run matches by its state when its page is read: no run comes twice in one listing, and one that changes state while the listing is paged through is listed (or not) by the state it had when its page was read. */
        StateFilter: components["schemas"]["State"][];
        /** @description OPTIONAL Only runs whose tags have this key. */
        TagKeyFilter: string;
        /** @description OPTIONAL With `tag_key`: only runs whose tag `tag_key` has exactly this value. Without `tag_key` it is refused (400). */
        TagValueFilter: string;
        /** @description OPTIONAL `desc` (the default): newest runs first; `asc`: oldest first, by submission. A `page_token` continues the listing it came from, with the same filters and order; one used with other filters or another order is refused (400). */
        SortOrder: "asc" | "desc";
        /** @description Optional single byte range (RFC 9110), e.g. `bytes=0-1023`, `bytes=1024-` or `bytes=-512`. */
        RangeHeader: string;
    };
    requestBodies: never;
    headers: {
        /** @description The file's entity tag (its size and modification time). */
        ETag: string;
        /** @description The byte range returned, e.g. `bytes 0-1023/4096`. */
        ContentRange: string;
        /** @description The current size of the log, e.g. `bytes *\/4096`. */
        UnsatisfiedContentRange: string;
        /** @description Always `bytes`. */
        AcceptRanges: string;
    };
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    GetServiceInfo: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ServiceInfo"];
                };
            };
            /** @description The request is malformed. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The request is unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The requester is not authorized to perform this action. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description An unexpected error occurred. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    ListRuns: {
        parameters: {
            query?: {
                /** @description OPTIONAL The preferred number of workflow runs to return in a page. If not provided, the implementation should use a default page size. The implementation must not return more items than `page_size`, but it may return fewer.  Clients should not assume that if fewer than `page_size` items are returned that all items have been returned.  The availability of additional pages is indicated by the value of `next_page_token` in the response. */
                page_size?: number;
                /** @description OPTIONAL Token to use to indicate where to start getting results. If unspecified, return the first page of results. */
                page_token?: string;
                /** @description OPTIONAL Only runs in one of these states; repeat the parameter for several (`state=RUNNING&state=QUEUED`). A run matches by its state when its page is read: no run comes twice in one listing, and one that changes state while the listing is paged through is listed (or not) by the state it had when its page was read. */
                state?: components["parameters"]["StateFilter"];
                /** @description OPTIONAL Only runs whose tags have this key. */
                tag_key?: components["parameters"]["TagKeyFilter"];
                /** @description OPTIONAL With `tag_key`: only runs whose tag `tag_key` has exactly this value. Without `tag_key` it is refused (400). */
                tag_value?: components["parameters"]["TagValueFilter"];
                /** @description OPTIONAL `desc` (the default): newest runs first; `asc`: oldest first, by submission. A `page_token` continues the listing it came from, with the same filters and order; one used with other filters or another order is refused (400). */
                sort_order?: components["parameters"]["SortOrder"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunListResponse"];
                };
            };
            /** @description The request is malformed. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The request is unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The requester is not authorized to perform this action. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description An unexpected error occurred. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    RunWorkflow: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "multipart/form-data": {
                    workflow_params?: string;
                    workflow_type?: string;
                    workflow_type_version?: string;
                    tags?: string;
                    workflow_engine?: string;
                    workflow_engine_version?: string;
                    workflow_engine_parameters?: string;
                    workflow_url?: string;
                    workflow_attachment?: string[];
                };
            };
        };
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunId"];
                };
            };
            /** @description The request is malformed. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The request is unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The requester is not authorized to perform this action. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description An unexpected error occurred. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    GetRunLog: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                run_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunLog"];
                };
            };
            /** @description The request is unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The requester is not authorized to perform this action. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The requested workflow run not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description An unexpected error occurred. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    DeleteRun: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The workflow run ID. */
                run_id: components["parameters"]["RunIdPath"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The run is deleted. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunId"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["RunNotFound"];
            /** @description The run is not finished (QUEUED, INITIALIZING, RUNNING, PAUSED or CANCELING). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            500: components["responses"]["ServerError"];
        };
    };
    GetRunStatus: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                run_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunStatus"];
                };
            };
            /** @description The request is unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The requester is not authorized to perform this action. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The requested workflow run wasn't found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description An unexpected error occurred. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    ListTasks: {
        parameters: {
            query?: {
                /** @description OPTIONAL The preferred number of task logs to return in a page. If not provided, the implementation should use a default page size. The implementation must not return more items than `page_size`, but it may return fewer.  Clients should not assume that if fewer than `page_size` items are returned that all items have been returned.  The availability of additional pages is indicated by the value of `next_page_token` in the response. */
                page_size?: number;
                /** @description OPTIONAL Token to use to indicate where to start getting results. If unspecified, return the first page of results. */
                page_token?: string;
            };
            header?: never;
            path: {
                run_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskListResponse"];
                };
            };
            /** @description The request is unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The requester is not authorized to perform this action. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The requested workflow run wasn't found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description An unexpected error occurred. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    GetTask: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                run_id: string;
                task_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskLog"];
                };
            };
            /** @description The request is unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The requester is not authorized to perform this action. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The requested task wasn't found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description An unexpected error occurred. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    CancelRun: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                run_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunId"];
                };
            };
            /** @description The request is unauthorized. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The requester is not authorized to perform this action. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description The requested workflow run wasn't found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description An unexpected error occurred. */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    GetRunStdout: {
        parameters: {
            query?: never;
            header?: {
                /** @description Optional single byte range (RFC 9110), e.g. `bytes=0-1023`, `bytes=1024-` or `bytes=-512`. */
                Range?: components["parameters"]["RangeHeader"];
            };
            path: {
                /** @description The workflow run ID. */
                run_id: components["parameters"]["RunIdPath"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: components["responses"]["LogContent"];
            206: components["responses"]["LogPartialContent"];
            404: components["responses"]["RunNotFound"];
            416: components["responses"]["RangeNotSatisfiable"];
        };
    };
    GetRunStderr: {
        parameters: {
            query?: never;
            header?: {
                /** @description Optional single byte range (RFC 9110), e.g. `bytes=0-1023`, `bytes=1024-` or `bytes=-512`. */
                Range?: components["parameters"]["RangeHeader"];
            };
            path: {
                /** @description The workflow run ID. */
                run_id: components["parameters"]["RunIdPath"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: components["responses"]["LogContent"];
            206: components["responses"]["LogPartialContent"];
            404: components["responses"]["RunNotFound"];
            416: components["responses"]["RangeNotSatisfiable"];
        };
    };
    ListRunOutputs: {
        parameters: {
            query?: {
                /** @description How many files a page holds at most (default and most as for the run listing). */
                page_size?: number;
                /** @description The `next_page_token` of the page before. */
                page_token?: string;
            };
            header?: never;
            path: {
                /** @description The workflow run ID. */
                run_id: components["parameters"]["RunIdPath"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of the run's output files. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunOutputList"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["RunNotFound"];
        };
    };
    GetRunOutput: {
        parameters: {
            query?: never;
            header?: {
                /** @description Optional single byte range (RFC 9110), e.g. `bytes=0-1023`, `bytes=1024-` or `bytes=-512`. */
                Range?: components["parameters"]["RangeHeader"];
                /** @description ETags the client holds; 304 when the file's is among them. */
                "If-None-Match"?: string;
            };
            path: {
                /** @description The workflow run ID. */
                run_id: components["parameters"]["RunIdPath"];
                /** @description The file's path inside the run's outputs folder; `/` separates folders (this parameter takes the rest of the URL path). */
                path: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The file, or a folder's listing. */
            200: {
                headers: {
                    ETag: components["headers"]["ETag"];
                    "Accept-Ranges": components["headers"]["AcceptRanges"];
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                    "application/json": components["schemas"]["OutputDirectory"];
                };
            };
            /** @description The requested byte range of the file. */
            206: {
                headers: {
                    "Content-Range": components["headers"]["ContentRange"];
                    ETag: components["headers"]["ETag"];
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                };
            };
            /** @description The file is unchanged since the ETag the client sent. */
            304: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["RunNotFound"];
            416: components["responses"]["RangeNotSatisfiable"];
        };
    };
    GetRunOutputsZip: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The workflow run ID. */
                run_id: components["parameters"]["RunIdPath"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The zip archive. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/zip": string;
                };
            };
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["RunNotFound"];
        };
    };
    GetEngineStatus: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The server is up. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
        };
    };
    GetRoot: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Redirect to the service-info endpoint. */
            302: {
                headers: {
                    /** @description Where the service-info endpoint lives, relative to the root. */
                    Location: string;
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
}
type WithRequired<T, K extends keyof T> = T & {
    [P in K]-?: T[P];
};
