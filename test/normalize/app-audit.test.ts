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

/** A JSON frame as an application writes it, through the real parser (issue 20: common field names). */
const jsonFrame = (rec: Record<string, unknown>) => fromLine(JSON.stringify(rec), null);

describe('application audit records with the usual field names (aliases, docs/ocsf.md)', () => {
  it('alias: the README line {"user","action":"login","result":"failure","src_ip"} is a failed logon with user and source', () => {
    const n = jsonFrame({ user: 'alice', action: 'login', result: 'failure', src_ip: '203.0.113.9' });
    expectShape(n, { cls: 3002, activity: 1, status: 2, user: 'alice', ip: '203.0.113.9', rule: 'app.authentication' });
    expect(get(n.event, 'unmapped.app_audit')).toEqual({ user: 'alice', action: 'login', result: 'failure', src_ip: '203.0.113.9' });
  });

  it('alias: every spelling of each field is read', () => {
    for (const u of ['user', 'username', 'actor']) {
      for (const ip of ['src_ip', 'source_ip', 'client_ip', 'ip']) {
        for (const r of ['result', 'outcome', 'status']) {
          expectShape(jsonFrame({ [u]: 'bob', action: 'login', [r]: 'failure', [ip]: '198.51.100.7' }), { cls: 3002, activity: 1, status: 2, user: 'bob', ip: '198.51.100.7' });
        }
      }
    }
    expectShape(jsonFrame({ user: 'bob', event: 'logout', outcome: 'success' }), { cls: 3002, activity: 2, status: 1, user: 'bob' });
    expectShape(jsonFrame({ username: 'bob', event_type: 'login', status: 'denied' }), { cls: 3002, activity: 1, status: 2, user: 'bob' });
    for (const t of ['timestamp', '@timestamp', 'time']) {
      expect(jsonFrame({ user: 'bob', action: 'login', result: 'success', [t]: '2024-05-31T12:00:00Z' }).event.time).toBe(Date.parse('2024-05-31T12:00:00Z'));
    }
  });

  it('alias: precedence is the documented order (first key holding a non-empty string wins)', () => {
    const n = jsonFrame({
      actor: 'third', username: 'second', user: 'first',
      ip: '192.0.2.4', client_ip: '192.0.2.3', source_ip: '192.0.2.2', src_ip: '192.0.2.1',
      event: 'logout', action: 'login',
      status: 'success', outcome: 'success', result: 'failure',
      time: '2024-01-03T00:00:00Z', timestamp: '2024-01-02T00:00:00Z', '@timestamp': '2024-01-01T00:00:00Z',
    });
    expectShape(n, { cls: 3002, activity: 1, status: 2, user: 'first', ip: '192.0.2.1' });
    expect(n.event.time).toBe(Date.parse('2024-01-01T00:00:00Z'));
    expect(jsonFrame({ user: 'bob', action: 'login', result: 'success', time: '2024-01-03T00:00:00Z', timestamp: '2024-01-02T00:00:00Z' }).event.time).toBe(Date.parse('2024-01-02T00:00:00Z'));
    // An empty value gives way to the next spelling.
    expectShape(jsonFrame({ user: '', username: 'second', action: 'login', result: 'failure' }), { cls: 3002, activity: 1, status: 2, user: 'second' });
  });

  it('alias: the seed records keep their meaning (event_type is the category, action the verb)', () => {
    expectShape(jsonFrame(record({ result: 'failure' })), { cls: 3002, activity: 1, status: 2, user: 'alice', ip: '198.51.100.23', rule: 'app.authentication' });
    expectShape(jsonFrame(record({ event_type: 'data_access', action: 'export', user: 'bob' })), { cls: 6003, activity: 2, status: 1, actor: 'bob' });
  });

  it('alias: without a result, the action words give the status; unrelated JSON is not an audit record', () => {
    expectShape(jsonFrame({ user: 'carol', action: 'login_failed', src_ip: '203.0.113.10' }), { cls: 3002, activity: 1, status: 2, user: 'carol', ip: '203.0.113.10' });
    const other = jsonFrame({ host: 'web1', message: 'GET / 200', status: 200 });
    expect(other.parsed.audit).toBeUndefined();
    expect(other.event.class_uid).toBe(0);
  });
});
