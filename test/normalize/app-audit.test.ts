import { describe, expect, it } from 'vitest';
import { expectShape, fromLine, fromMessage, get } from './helpers.js';

/** What the seed's AuditLogger.log_event writes (fields in its order). */
function record(over: Record<string, unknown>): Record<string, unknown> {
  return {
    timestamp: '2024-05-31T12:00:00.123456+00:00',
    service: 'billing-api',
    event_type: 'authentication',
    user: 'alice',
    resource: 'auth-service',
    action: 'login',
    result: 'success',
    source_ip: '198.51.100.23',
    metadata: { mfa_used: true },
    prev_hash: null,
    hash: 'c'.repeat(64),
    ...over,
  };
}

const app = (over: Record<string, unknown>) => fromMessage('app-audit', JSON.stringify(record(over)), { audit: record(over) as never });

describe('application audit records (seed AuditLogger)', () => {
  it('app: authentication login -> Authentication / Logon with product = service and MFA flag', () => {
    const n = app({});
    expectShape(n, { cls: 3002, activity: 1, status: 1, user: 'alice', ip: '198.51.100.23', rule: 'app.authentication' });
    expect(get(n.event, 'metadata.product.name')).toBe('billing-api');
    expect(n.event.is_mfa).toBe(true);
    expect(get(n.event, 'unmapped.app_audit.hash')).toBe('c'.repeat(64));
  });

  it('app: failed login, logout, password change and reset', () => {
    expectShape(app({ result: 'failure', metadata: { mfa_used: false } }), { cls: 3002, activity: 1, status: 2, user: 'alice' });
    expectShape(app({ action: 'logout' }), { cls: 3002, activity: 2, status: 1, user: 'alice' });
    expectShape(app({ action: 'password_change' }), { cls: 3001, activity: 3, status: 1, user: 'alice' });
    expectShape(app({ action: 'password_reset' }), { cls: 3001, activity: 4, status: 1, user: 'alice' });
  });

  it('app: authorization -> Authorize Session; denial is a failure', () => {
    expectShape(app({ event_type: 'authorization', action: 'grant_admin', result: 'success' }), { cls: 3003, activity: 1, status: 1, user: 'alice' });
    expectShape(app({ event_type: 'authorization', action: 'assign_role', result: 'denied' }), { cls: 3003, activity: 3, status: 2, user: 'alice' });
  });

  it('app: data_access -> API Activity with CRUD activity from the action', () => {
    const n = app({ event_type: 'data_access', resource: 'customers', action: 'export', metadata: { record_count: 5000 } });
    expectShape(n, { cls: 6003, activity: 2, status: 1, user: null, actor: 'alice', ip: '198.51.100.23' });
    expect(get(n.event, 'api.operation')).toBe('export');
    expect(n.event.resources).toEqual([{ name: 'customers' }]);
    expectShape(app({ event_type: 'data_access', action: 'delete' }), { cls: 6003, activity: 4, status: 1 });
    expectShape(app({ event_type: 'data_access', action: 'update_record' }), { cls: 6003, activity: 3, status: 1 });
  });

  it('app: operation (audit_trail decorator) -> API Activity named after the function', () => {
    const n = app({ event_type: 'operation', user: 'system', resource: 'invoices', action: 'create_invoice', result: 'failure', metadata: { error: 'boom' } });
    expectShape(n, { cls: 6003, activity: 1, status: 2, actor: 'system' });
  });

  it('app: administrative -> Entity Management, or Account Change for user actions', () => {
    expectShape(app({ event_type: 'administrative', action: 'update_config', resource: 'firewall' }), { cls: 3004, activity: 3, status: 1, actor: 'alice' });
    expectShape(app({ event_type: 'administrative', action: 'create_user', resource: 'bob' }), { cls: 3001, activity: 1, status: 1, user: 'bob', actor: 'alice' });
  });

  it('app: system and unknown types stay Base Events, nothing dropped', () => {
    const n = app({ event_type: 'system', action: 'startup' });
    expectShape(n, { cls: 0, activity: 0, status: 1, rule: 'app.system' });
    expect(get(n.event, 'unmapped.app_audit.action')).toBe('startup');
    expectShape(app({ event_type: 'something_else' }), { cls: 0, activity: 0, status: 1 });
  });

  it('app: a record with hostile values stays plain JSON (no NUL, no undefined)', () => {
    const n = app({ user: 'a\u0000b', metadata: { nested: { deep: 'x\u0000' }, n: 1 } });
    expect(n.columns.user_name).toBe('a\uFFFDb');
  });

  it('app: the seed rsyslog json-audit template through parseFrame', () => {
    const inner = JSON.stringify(record({ action: 'login', result: 'failure' }));
    const frame = JSON.stringify({ '@timestamp': '2024-05-31T12:00:00.123456+00:00', host: 'app-01', severity: 'info', facility: 'local0', tag: 'app-audit:', message: ` ${inner}` });
    const n = fromLine(frame, null);
    expectShape(n, { cls: 3002, activity: 1, status: 2, user: 'alice', ip: '198.51.100.23' });
    expect(get(n.event, 'metadata.product.name')).toBe('billing-api');
  });

  it('app: a record carried as plain MSG of an RFC 3164 line (imfile Tag=app-audit)', () => {
    const n = fromLine(`May 31 12:00:00 app-01 app-audit: ${JSON.stringify(record({ action: 'logout' }))}`, 134);
    expectShape(n, { cls: 3002, activity: 2, status: 1, user: 'alice' });
  });
});
