// DO NOT EDIT — made by scripts/generate.ts from spec/ (run `npm run generate`).
// Edit spec/ferry.yaml or replace the upstream spec files instead; see spec/README.md.
//
// Per-operation input/result types and the OperationHandlers interface, derived from
// generated/openapi.json. A class that `implements OperationHandlers` stops compiling when a
// spec bump adds, removes or reshapes an operation.

import type { operations } from './schema.js';

/** A multipart file part, already streamed to a staging folder on disk. */
export interface UploadedFile {
  /** File name as sent by the client (Content-Disposition filename); may contain subdirectories. */
  filename: string;
  /** Where the part was written on disk. */
  path: string;
  /** Size in bytes. */
  size: number;
}

/** Body of a non-JSON response: sent as is (a stream is piped). */
export type StreamBody = string | Buffer | NodeJS.ReadableStream;

/** All operationIds, in document order. */
export const operationIds = [
  'GetServiceInfo',
  'ListRuns',
  'RunWorkflow',
  'GetRunLog',
  'DeleteRun',
  'GetRunStatus',
  'ListTasks',
  'GetTask',
  'CancelRun',
  'GetRunStdout',
  'GetRunStderr',
  'ListRunOutputs',
  'GetRunOutput',
  'GetRunOutputsZip',
  'GetEngineStatus',
  'GetRoot',
] as const;

export type OperationId = (typeof operationIds)[number];

/** Input of GetServiceInfo: GET /ga4gh/wes/v1/service-info. */
export interface GetServiceInfoInput {
  params: Record<string, never>;
  query: Record<string, never>;
  headers: Record<string, never>;
  body: undefined;
}

/** Successful outcomes of GetServiceInfo; errors are thrown, not returned. */
export type GetServiceInfoResult =
  | { status: 200; headers?: Record<string, string>; body: operations['GetServiceInfo']['responses'][200]['content']['application/json'] };

/** Input of ListRuns: GET /ga4gh/wes/v1/runs. */
export interface ListRunsInput {
  params: Record<string, never>;
  query: NonNullable<operations['ListRuns']['parameters']['query']>;
  headers: Record<string, never>;
  body: undefined;
}

/** Successful outcomes of ListRuns; errors are thrown, not returned. */
export type ListRunsResult =
  | { status: 200; headers?: Record<string, string>; body: operations['ListRuns']['responses'][200]['content']['application/json'] };

/**
 * Input of RunWorkflow: POST /ga4gh/wes/v1/runs (the HTTP layer always passes a body object, possibly empty).
 *
 * `Files` is the type of the file parts (`workflow_attachment`). The HTTP layer decides how
 * received files are handed over (Ferry passes its staging folder); the default is the list
 * of files as uploaded.
 */
export interface RunWorkflowInput<Files = UploadedFile[]> {
  params: Record<string, never>;
  query: Record<string, never>;
  headers: Record<string, never>;
  body: Omit<NonNullable<operations['RunWorkflow']['requestBody']>['content']['multipart/form-data'], 'workflow_attachment'> & { workflow_attachment?: Files };
}

/** Successful outcomes of RunWorkflow; errors are thrown, not returned. */
export type RunWorkflowResult =
  | { status: 200; headers?: Record<string, string>; body: operations['RunWorkflow']['responses'][200]['content']['application/json'] };

/** Input of GetRunLog: GET /ga4gh/wes/v1/runs/{run_id}. */
export interface GetRunLogInput {
  params: NonNullable<operations['GetRunLog']['parameters']['path']>;
  query: Record<string, never>;
  headers: Record<string, never>;
  body: undefined;
}

/** Successful outcomes of GetRunLog; errors are thrown, not returned. */
export type GetRunLogResult =
  | { status: 200; headers?: Record<string, string>; body: operations['GetRunLog']['responses'][200]['content']['application/json'] };

/** Input of DeleteRun: DELETE /ga4gh/wes/v1/runs/{run_id}. */
export interface DeleteRunInput {
  params: NonNullable<operations['DeleteRun']['parameters']['path']>;
  query: Record<string, never>;
  headers: Record<string, never>;
  body: undefined;
}

/** Successful outcomes of DeleteRun; errors are thrown, not returned. */
export type DeleteRunResult =
  | { status: 200; headers?: Record<string, string>; body: operations['DeleteRun']['responses'][200]['content']['application/json'] };

/** Input of GetRunStatus: GET /ga4gh/wes/v1/runs/{run_id}/status. */
export interface GetRunStatusInput {
  params: NonNullable<operations['GetRunStatus']['parameters']['path']>;
  query: Record<string, never>;
  headers: Record<string, never>;
  body: undefined;
}

/** Successful outcomes of GetRunStatus; errors are thrown, not returned. */
export type GetRunStatusResult =
  | { status: 200; headers?: Record<string, string>; body: operations['GetRunStatus']['responses'][200]['content']['application/json'] };

/** Input of ListTasks: GET /ga4gh/wes/v1/runs/{run_id}/tasks. */
export interface ListTasksInput {
  params: NonNullable<operations['ListTasks']['parameters']['path']>;
  query: NonNullable<operations['ListTasks']['parameters']['query']>;
  headers: Record<string, never>;
  body: undefined;
}

/** Successful outcomes of ListTasks; errors are thrown, not returned. */
export type ListTasksResult =
  | { status: 200; headers?: Record<string, string>; body: operations['ListTasks']['responses'][200]['content']['application/json'] };

/** Input of GetTask: GET /ga4gh/wes/v1/runs/{run_id}/tasks/{task_id}. */
export interface GetTaskInput {
  params: NonNullable<operations['GetTask']['parameters']['path']>;
  query: Record<string, never>;
  headers: Record<string, never>;
  body: undefined;
}

/** Successful outcomes of GetTask; errors are thrown, not returned. */
export type GetTaskResult =
  | { status: 200; headers?: Record<string, string>; body: operations['GetTask']['responses'][200]['content']['application/json'] };

/** Input of CancelRun: POST /ga4gh/wes/v1/runs/{run_id}/cancel. */
export interface CancelRunInput {
  params: NonNullable<operations['CancelRun']['parameters']['path']>;
  query: Record<string, never>;
  headers: Record<string, never>;
  body: undefined;
}

/** Successful outcomes of CancelRun; errors are thrown, not returned. */
export type CancelRunResult =
  | { status: 200; headers?: Record<string, string>; body: operations['CancelRun']['responses'][200]['content']['application/json'] };

/** Input of GetRunStdout: GET /toil/wes/v1/logs/{run_id}/stdout. */
export interface GetRunStdoutInput {
  params: NonNullable<operations['GetRunStdout']['parameters']['path']>;
  query: Record<string, never>;
  headers: NonNullable<operations['GetRunStdout']['parameters']['header']>;
  body: undefined;
}

/** Successful outcomes of GetRunStdout; errors are thrown, not returned. */
export type GetRunStdoutResult =
  | { status: 200; headers?: Record<string, string>; body: StreamBody }
  | { status: 206; headers: { 'content-range': string } & Record<string, string>; body: StreamBody };

/** Input of GetRunStderr: GET /toil/wes/v1/logs/{run_id}/stderr. */
export interface GetRunStderrInput {
  params: NonNullable<operations['GetRunStderr']['parameters']['path']>;
  query: Record<string, never>;
  headers: NonNullable<operations['GetRunStderr']['parameters']['header']>;
  body: undefined;
}

/** Successful outcomes of GetRunStderr; errors are thrown, not returned. */
export type GetRunStderrResult =
  | { status: 200; headers?: Record<string, string>; body: StreamBody }
  | { status: 206; headers: { 'content-range': string } & Record<string, string>; body: StreamBody };

/** Input of ListRunOutputs: GET /ga4gh/wes/v1/runs/{run_id}/outputs. */
export interface ListRunOutputsInput {
  params: NonNullable<operations['ListRunOutputs']['parameters']['path']>;
  query: NonNullable<operations['ListRunOutputs']['parameters']['query']>;
  headers: Record<string, never>;
  body: undefined;
}

/** Successful outcomes of ListRunOutputs; errors are thrown, not returned. */
export type ListRunOutputsResult =
  | { status: 200; headers?: Record<string, string>; body: operations['ListRunOutputs']['responses'][200]['content']['application/json'] };

/** Input of GetRunOutput: GET /ga4gh/wes/v1/runs/{run_id}/outputs/{path}. */
export interface GetRunOutputInput {
  params: NonNullable<operations['GetRunOutput']['parameters']['path']>;
  query: Record<string, never>;
  headers: NonNullable<operations['GetRunOutput']['parameters']['header']>;
  body: undefined;
}

/** Successful outcomes of GetRunOutput; errors are thrown, not returned. */
export type GetRunOutputResult =
  | { status: 200; headers?: Record<string, string>; body: StreamBody | operations['GetRunOutput']['responses'][200]['content']['application/json'] }
  | { status: 206; headers: { 'content-range': string } & Record<string, string>; body: StreamBody }
  | { status: 304; headers?: Record<string, string>; body?: undefined };

/** Input of GetRunOutputsZip: GET /ga4gh/wes/v1/runs/{run_id}/outputs.zip. */
export interface GetRunOutputsZipInput {
  params: NonNullable<operations['GetRunOutputsZip']['parameters']['path']>;
  query: Record<string, never>;
  headers: Record<string, never>;
  body: undefined;
}

/** Successful outcomes of GetRunOutputsZip; errors are thrown, not returned. */
export type GetRunOutputsZipResult =
  | { status: 200; headers?: Record<string, string>; body: StreamBody };

/** Input of GetEngineStatus: GET /engine/v1/status. */
export interface GetEngineStatusInput {
  params: Record<string, never>;
  query: Record<string, never>;
  headers: Record<string, never>;
  body: undefined;
}

/** Successful outcomes of GetEngineStatus; errors are thrown, not returned. */
export type GetEngineStatusResult =
  | { status: 200; headers?: Record<string, string>; body: StreamBody };

/** Input of GetRoot: GET /. */
export interface GetRootInput {
  params: Record<string, never>;
  query: Record<string, never>;
  headers: Record<string, never>;
  body: undefined;
}

/** Successful outcomes of GetRoot; errors are thrown, not returned. */
export type GetRootResult =
  | { status: 302; headers: { location: string } & Record<string, string>; body?: undefined };

/**
 * One method per operation of generated/openapi.json.
 *
 * `Files` is the type of the file parts (in RunWorkflow). The HTTP layer decides how
 * received files are handed over (Ferry passes its staging folder); the default is the list
 * of files as uploaded.
 *
 * `Caller` is who the request speaks for, as the HTTP layer established it (Ferry passes
 * the authenticated principal, or null where no authentication is configured); every method
 * gets it, so no operation can be served without knowing whose request it is.
 */
export interface OperationHandlers<Files = UploadedFile[], Caller = undefined> {
  GetServiceInfo(input: GetServiceInfoInput, caller: Caller): Promise<GetServiceInfoResult>;
  ListRuns(input: ListRunsInput, caller: Caller): Promise<ListRunsResult>;
  RunWorkflow(input: RunWorkflowInput<Files>, caller: Caller): Promise<RunWorkflowResult>;
  GetRunLog(input: GetRunLogInput, caller: Caller): Promise<GetRunLogResult>;
  DeleteRun(input: DeleteRunInput, caller: Caller): Promise<DeleteRunResult>;
  GetRunStatus(input: GetRunStatusInput, caller: Caller): Promise<GetRunStatusResult>;
  ListTasks(input: ListTasksInput, caller: Caller): Promise<ListTasksResult>;
  GetTask(input: GetTaskInput, caller: Caller): Promise<GetTaskResult>;
  CancelRun(input: CancelRunInput, caller: Caller): Promise<CancelRunResult>;
  GetRunStdout(input: GetRunStdoutInput, caller: Caller): Promise<GetRunStdoutResult>;
  GetRunStderr(input: GetRunStderrInput, caller: Caller): Promise<GetRunStderrResult>;
  ListRunOutputs(input: ListRunOutputsInput, caller: Caller): Promise<ListRunOutputsResult>;
  GetRunOutput(input: GetRunOutputInput, caller: Caller): Promise<GetRunOutputResult>;
  GetRunOutputsZip(input: GetRunOutputsZipInput, caller: Caller): Promise<GetRunOutputsZipResult>;
  GetEngineStatus(input: GetEngineStatusInput, caller: Caller): Promise<GetEngineStatusResult>;
  GetRoot(input: GetRootInput, caller: Caller): Promise<GetRootResult>;
}
