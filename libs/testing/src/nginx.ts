import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';

export interface RunningNginx {
  readonly port: number;
  stop(): Promise<void>;
}

/** Where `npm test` unpacks nginx when none is installed (tools/ensure-nginx.mjs). */
const UNPACKED_NGINX = fileURLToPath(new URL('../../../.keyledger/nginx/usr/sbin/nginx', import.meta.url)).replace('/dist/.keyledger/', '/.keyledger/');

function nginxBinary(): string {
  const candidates = [process.env['KEYLEDGER_TEST_NGINX'], '/usr/sbin/nginx', '/usr/local/sbin/nginx', UNPACKED_NGINX].filter((p): p is string => Boolean(p));
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new Error('nginx is not installed: `npm test` unpacks Debian\'s package into .keyledger/nginx, or install it (apt-get install nginx)');
  return found;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Runs a real nginx in the foreground with the given `http { … }` server blocks, in its own
 * temporary prefix (config, pid, temp paths), until stop().
 */
export async function startNginx(port: number, servers: string): Promise<RunningNginx> {
  const prefix = await mkdtemp(join(tmpdir(), 'kl-nginx-'));
  await mkdir(join(prefix, 'tmp'));
  const conf = `
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  ${servers}
}`;
  await writeFile(join(prefix, 'nginx.conf'), conf);
  // As root nginx would switch its worker to 'nobody'; the user directive is ignored otherwise.
  const child: ChildProcess = spawn(
    nginxBinary(),
    ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', `daemon off;${process.getuid?.() === 0 ? ' user root;' : ''}`],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start on port ${port} (exit ${child.exitCode})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGQUIT');
        await exited;
      }
      await rm(prefix, { recursive: true, force: true });
    },
  };
}
