/** Serialises role changes across schemas and concurrent migrate jobs: roles are cluster-wide. */
export const ROLES_LOCK = "hashtext('keyledger-database-roles')";
