// nginx instances for the macro benchmark: the shared 1 KiB upstream, and nginx as the peer proxy.
// Each runs in the foreground as a single process (`master_process off`) with its own prefix under a
// temp dir, so the pid we hold is the process doing the work and nothing touches /etc or /var.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { type Children, waitForPort } from './proc.ts'

export const BODY_BYTES = 1024

function common(prefix: string): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events { worker_connections 16384; }
`
}

function tempPaths(prefix: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((n) => `  ${n}_temp_path ${join(prefix, `${n}_temp`)};`)
    .join('\n')
}

/** Writes the config of the upstream: every request gets 200 with a fixed 1 KiB body. */
export function upstreamConfig(prefix: string, port: number): string {
  return `${common(prefix)}
http {
  access_log off;
${tempPaths(prefix)}
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    default_type application/octet-stream;
    location / { return 200 '${'x'.repeat(BODY_BYTES)}'; }
  }
}
`
}

/**
 * nginx as a reverse proxy, configured the way a production nginx in front of an HTTP/1.1 API usually
 * is: keep-alive pool to the upstream, the Host / X-Forwarded-* / X-Request-Id headers litgate also
 * sets, and (with `hasAccessLog`) the stock `combined` access log to a file, one unbuffered write per
 * request (nginx's default), like litgate's access log.
 */
export function proxyConfig(
  prefix: string,
  port: number,
  upstreamPort: number,
  hasAccessLog: boolean,
): string {
  return `${common(prefix)}
http {
  access_log ${hasAccessLog ? `${join(prefix, 'access.log')} combined` : 'off'};
${tempPaths(prefix)}
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  upstream backend {
    server 127.0.0.1:${upstreamPort};
    keepalive 256;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Request-Id $request_id;
    }
  }
}
`
}

/** Starts nginx with `conf` in its own prefix dir; resolves once its port accepts connections. */
export async function startNginx(
  children: Children,
  nginx: string,
  prefix: string,
  conf: string,
  port: number,
  pinCore?: number,
): Promise<ChildProcess> {
  mkdirSync(prefix, { recursive: true })
  const confPath = join(prefix, 'nginx.conf')
  writeFileSync(confPath, conf)
  const args = ['-e', join(prefix, 'error.log'), '-p', prefix, '-c', confPath]
  const child =
    pinCore === undefined
      ? children.spawn(nginx, args)
      : children.spawn('taskset', ['-c', String(pinCore), nginx, ...args])
  await waitForPort(port, 10_000, child)
  return child
}
