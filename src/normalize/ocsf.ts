/**
 * The OCSF vocabulary this mapping uses: class, category, activity, status and severity ids with their
 * captions. Ids follow the OCSF schema as recorded in ../shared/corpus/ocsf-mapping.md (schema HEAD
 * 1.9.0-dev, cross-checked against released versions); `OCSF_VERSION` is what `metadata.version` claims.
 */

/** OCSF schema version the events claim (`metadata.version`). Account Switch (3002/7) needs >= 1.6.0. */
export const OCSF_VERSION = '1.7.0';

/**
 * Version of syslog-ledger's own mapping (`metadata.mapping.version`). Bump it whenever the same input
 * would normalize differently, so events from before and after a change can be told apart.
 */
export const MAPPING_VERSION = 1;

export const CLASSES = {
  0: { name: 'Base Event', category: 0 },
  1001: { name: 'File System Activity', category: 1 },
  1003: { name: 'Kernel Activity', category: 1 },
  1007: { name: 'Process Activity', category: 1 },
  1008: { name: 'Event Log Activity', category: 1 },
  3001: { name: 'Account Change', category: 3 },
  3002: { name: 'Authentication', category: 3 },
  3003: { name: 'Authorize Session', category: 3 },
  3004: { name: 'Entity Management', category: 3 },
  3005: { name: 'User Access Management', category: 3 },
  3006: { name: 'Group Management', category: 3 },
  4001: { name: 'Network Activity', category: 4 },
  6002: { name: 'Application Lifecycle', category: 6 },
  6003: { name: 'API Activity', category: 6 },
} as const;
export type ClassUid = keyof typeof CLASSES;

export const CATEGORIES: Readonly<Record<number, string>> = {
  0: 'Uncategorized',
  1: 'System Activity',
  3: 'Identity & Access Management',
  4: 'Network Activity',
  6: 'Application Activity',
};

/** Activity captions per class. 0 Unknown and 99 Other are common to all; 99 needs `activity_name`. */
export const ACTIVITIES: Readonly<Record<number, Readonly<Record<number, string>>>> = {
  0: {},
  1001: { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 5: 'Rename', 6: 'Set Attributes', 7: 'Set Security', 8: 'Get Attributes', 9: 'Get Security', 10: 'Encrypt', 11: 'Decrypt', 12: 'Mount', 13: 'Unmount', 14: 'Open' },
  1003: { 1: 'Create', 2: 'Read', 3: 'Delete', 4: 'Invoke' },
  1007: { 1: 'Launch', 2: 'Terminate', 3: 'Open', 4: 'Inject', 5: 'Set User ID' },
  1008: { 1: 'Clear', 2: 'Delete', 3: 'Export', 4: 'Archive', 5: 'Rotate', 6: 'Start', 7: 'Stop', 8: 'Restart', 9: 'Enable', 10: 'Disable' },
  3001: { 1: 'Create', 2: 'Enable', 3: 'Password Change', 4: 'Password Reset', 5: 'Disable', 6: 'Delete', 7: 'Attach Policy', 8: 'Detach Policy', 9: 'Lock', 10: 'MFA Factor Enable', 11: 'MFA Factor Disable' },
  3002: { 1: 'Logon', 2: 'Logoff', 3: 'Authentication Ticket', 4: 'Service Ticket Request', 5: 'Service Ticket Renew', 6: 'Preauth', 7: 'Account Switch' },
  3003: { 1: 'Assign Privileges', 2: 'Assign Groups', 3: 'Assign Roles' },
  3004: { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete' },
  3005: { 1: 'Assign Privileges', 2: 'Revoke Privileges', 3: 'Assign Role', 4: 'Remove Role' },
  3006: { 1: 'Assign Privileges', 2: 'Revoke Privileges', 3: 'Add User', 4: 'Remove User', 5: 'Delete', 6: 'Create' },
  4001: { 1: 'Open', 2: 'Close', 3: 'Reset', 4: 'Fail', 5: 'Refuse', 6: 'Traffic', 7: 'Listen' },
  6002: { 1: 'Install', 2: 'Remove', 3: 'Start', 4: 'Stop' },
  6003: { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete' },
};

export const STATUS = { unknown: 0, success: 1, failure: 2, other: 99 } as const;
export type StatusId = (typeof STATUS)[keyof typeof STATUS];
export const STATUS_NAMES: Readonly<Record<number, string>> = { 0: 'Unknown', 1: 'Success', 2: 'Failure', 99: 'Other' };

export const SEVERITY_NAMES: Readonly<Record<number, string>> = {
  0: 'Unknown', 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High', 5: 'Critical', 6: 'Fatal', 99: 'Other',
};

/** Authentication `logon_type_id` values used here. */
export const LOGON_TYPE = { interactive: 2, network: 3, batch: 4, service: 5, remoteInteractive: 10 } as const;

/** Authentication `account_switch_type_id`: 1 Substitute User (su, sudo). */
export const ACCOUNT_SWITCH_SUBSTITUTE_USER = 1;

/** `auth_protocol_id` 99 Other: OCSF has no SSH value; `auth_protocol` carries the method text. */
export const AUTH_PROTOCOL_OTHER = 99;
