/**
 * sudo (plugins/sudoers/logging.c): `<user> : [<problem> ; ]TTY=t ; PWD=d ; USER=r ; [GROUP=g ; ][TSID=x ; ][ENV=.. ; ]COMMAND=c`.
 *   no problem                       -> Process Activity 1007 / 1 Launch, success (actor = invoker, process.user = run-as)
 *   N incorrect password attempt(s)  -> Authentication 3002 / 7 Account Switch, failure, count N (counts the attempts;
 *                                       the pam_unix(sudo:auth) lines repeat it)
 *   user NOT in sudoers, command not allowed, NOT authorized
 *                                    -> Authorize Session 3003 / 1 Assign Privileges, failure
 *   any other problem                -> 3002 / 7, failure, status_detail = the problem
 * One line, one event: the elevation itself is read from 1007 events whose process.user differs from the
 * actor (view `privilege_escalations`), not from a second, companion event.
 */
import type { FamilyInput, Mapping } from '../mapping.js';
import { put, user } from '../mapping.js';
import { ACCOUNT_SWITCH_SUBSTITUTE_USER } from '../ocsf.js';
import { basename, toInt } from '../text.js';

const PRODUCT = 'sudo';
const SERVICE = Object.freeze({ name: 'sudo' });
const HEAD = /^(\S+) : (.*)$/s;
const ATTEMPTS = /^(\d+) incorrect password attempts?$/;
const DENIED = /NOT in sudoers|NOT allowed|not allowed|NOT authorized|not authorized/;

export function sudo(input: FamilyInput): Mapping {
  const h = HEAD.exec(input.msg);
  if (h === null) return other(input);
  const invoker = h[1]!;
  const rest = h[2]!;
  const cmdAt = rest.indexOf('COMMAND=');
  const command = cmdAt >= 0 ? rest.slice(cmdAt + 8) : undefined;
  const head = cmdAt >= 0 ? rest.slice(0, cmdAt) : rest;
  const kv: Record<string, string> = {};
  let problem: string | undefined;
  for (const part of head.split(' ; ')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq > 0 && /^[A-Z_]+$/.test(p.slice(0, eq))) kv[p.slice(0, eq)] = p.slice(eq + 1);
    else if (problem === undefined) problem = p;
    else problem += ` ; ${p}`;
  }
  if (problem === undefined && command === undefined && kv.USER === undefined) return other(input);

  const runAs = kv.USER;
  const actor: Record<string, unknown> = { user: user(invoker) };
  const tty = kv.TTY;
  if (tty && tty !== 'unknown') actor.session = { terminal: tty };
  const pid = toInt(input.pid);
  if (pid !== undefined) actor.process = { name: 'sudo', pid };
  const unmapped: Record<string, unknown> = {};
  put(unmapped, 'group', kv.GROUP);
  put(unmapped, 'tsid', kv.TSID);
  put(unmapped, 'env', kv.ENV);

  if (problem === undefined) {
    const process: Record<string, unknown> = {};
    if (command !== undefined) {
      process.cmd_line = command;
      const sp = command.indexOf(' ');
      const path = sp === -1 ? command : command.slice(0, sp);
      if (path) process.file = { path, name: basename(path) };
    }
    if (runAs) process.user = user(runAs);
    put(process, 'working_directory', kv.PWD);
    return { rule: 'sudo.command', class_uid: 1007, activity_id: 1, status_id: 1, product: PRODUCT, attrs: { actor, process }, unmapped };
  }

  put(unmapped, 'command', command);
  put(unmapped, 'pwd', kv.PWD);
  const m = ATTEMPTS.exec(problem);
  if (m !== null) {
    const attrs: Record<string, unknown> = { actor, service: SERVICE, account_switch_type_id: ACCOUNT_SWITCH_SUBSTITUTE_USER };
    if (runAs) attrs.user = user(runAs);
    return { rule: 'sudo.incorrect_password', class_uid: 3002, activity_id: 7, status_id: 2, status_detail: problem, count: +m[1]!, product: PRODUCT, attrs, unmapped };
  }
  if (DENIED.test(problem)) {
    const attrs: Record<string, unknown> = { user: user(invoker), actor };
    if (runAs) attrs.privileges = [runAs];
    if (tty && tty !== 'unknown') attrs.session = { terminal: tty };
    return { rule: 'sudo.not_allowed', class_uid: 3003, activity_id: 1, status_id: 2, status_detail: problem, product: PRODUCT, attrs, unmapped };
  }
  const attrs: Record<string, unknown> = { actor, service: SERVICE, account_switch_type_id: ACCOUNT_SWITCH_SUBSTITUTE_USER };
  if (runAs) attrs.user = user(runAs);
  return { rule: 'sudo.error', class_uid: 3002, activity_id: 7, status_id: 2, status_detail: problem, product: PRODUCT, attrs, unmapped };
}

/** sudo lines without the `user : ...` shape (`unable to resolve host x`, `(command continued) ...`). */
function other(input: FamilyInput): Mapping {
  const msg = input.msg;
  const failed = /unable|error|fail|not |cannot|sorry/i.test(msg);
  const attrs: Record<string, unknown> = {};
  const pid = toInt(input.pid);
  attrs.actor = pid !== undefined ? { process: { name: 'sudo', pid } } : { process: { name: 'sudo' } };
  return { rule: 'sudo.other', class_uid: 1007, activity_id: 99, activity_name: 'Other', status_id: failed ? 2 : 0, product: PRODUCT, attrs };
}
