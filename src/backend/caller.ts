/** Someone a request has been authenticated as. */
export interface Principal {
  user: string;
  /** Admins see and cancel every run. */
  admin: boolean;
}

/**
 * Whom a request speaks for: a principal, or null where the server has no
 * authentication configured (then every run is everyone's, as in Toil).
 */
export type Caller = Principal | null;

/**
 * Whether `caller` may see a run owned by `owner` (null: a run from before
 * authentication was turned on, which belongs to no one: admins only).
 */
export function maySee(caller: Caller, owner: string | null | undefined): boolean {
  if (caller === null || caller.admin) return true;
  return owner !== null && owner !== undefined && owner === caller.user;
}
