import { describe, expect, it } from 'vitest';
import { expectUntouched, mask } from './helpers.js';

describe('redaction rule: password', () => {
  it('password: masks key=value pairs, keeping the key', () => {
    expect(mask('password', 'login attempt user=bob password=hunter2 from 10.0.0.1')).toBe('login attempt user=bob password=<redacted:password> from 10.0.0.1');
    expect(mask('password', 'db connect host=db1 user=app passwd=S3cr3t!x;timeout=5')).toBe('db connect host=db1 user=app passwd=<redacted:password>;timeout=5');
    expect(mask('password', 'PASSWORD = "correct horse battery staple" set')).toBe('PASSWORD = "<redacted:password>" set');
  });

  it('password: compound keys and JSON, with or without escaped quotes', () => {
    expect(mask('password', 'spring.datasource.password=t0ps3cret')).toBe('spring.datasource.password=<redacted:password>');
    expect(mask('password', 'DB_PASSWORD=abc123 DB_USER=app')).toBe('DB_PASSWORD=<redacted:password> DB_USER=app');
    expect(mask('password', '{"user":"bob","password":"p@ss w0rd","ok":true}')).toBe('{"user":"bob","password":"<redacted:password>","ok":true}');
    expect(mask('password', '{"message":"retry with secret=\\"abc def\\" now"}')).toBe('{"message":"retry with secret=\\"<redacted:password>\\" now"}');
    expect(mask('password', 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).toBe('aws_secret_access_key = <redacted:password>');
  });

  it('password: command-line flags and SQL literals', () => {
    expect(mask('password', 'COMMAND=/usr/bin/mysql -u root --password=hunter2 prod')).toBe('COMMAND=/usr/bin/mysql -u root --password=<redacted:password> prod');
    expect(mask('password', 'COMMAND=/usr/bin/vault login --password hunter2')).toBe('COMMAND=/usr/bin/vault login --password <redacted:password>');
    // Every password key as a flag: the sieve and the gate once knew only `--pass`.
    expect(mask('password', 'COMMAND=/usr/bin/tool --pwd hunter2 -v')).toBe('COMMAND=/usr/bin/tool --pwd <redacted:password> -v');
    expect(mask('password', 'COMMAND=/usr/bin/tool --secret s3cr3tvalue')).toBe('COMMAND=/usr/bin/tool --secret <redacted:password>');
    expect(mask('password', "CREATE USER 'app'@'%' IDENTIFIED BY 'Sup3r$ecret'")).toBe("CREATE USER 'app'@'%' IDENTIFIED BY '<redacted:password>'");
    expect(mask('password', "ALTER ROLE app WITH LOGIN PASSWORD 'Sup3r$ecret'")).toBe("ALTER ROLE app WITH LOGIN PASSWORD '<redacted:password>'");
  });

  it('password: extra key names from the rules file', () => {
    expect(mask('password', 'card pin=1234 accepted')).toBe('card pin=<redacted:password> accepted');
  });

  it('password: false positives are kept (sshd, PAM, sudo working directory, program names)', () => {
    expectUntouched('Failed password for invalid user admin from 203.0.113.7 port 52344 ssh2');
    expectUntouched('Accepted password for alice from 198.51.100.7 port 40000 ssh2');
    expectUntouched('pam_unix(passwd:chauthtok): password changed for bob');
    expectUntouched('alice : TTY=pts/1 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/passwd bob');
    expectUntouched('passwd: password updated successfully');
    expectUntouched('bypass=true compass=north passed=3 password_policy=strict');
    expectUntouched('password: ******** (hidden)');
    expectUntouched('{"password":null,"user":"bob"}');
  });
});
