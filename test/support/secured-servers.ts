// Second Weaviate and Kafka servers with authentication and TLS, started by a test on spare ports with their own data
// folders (the shared local stack runs without either), from the same installs `infra:up` made.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { VERSIONS } from '../../infra/versions.ts';
import { eventually, stack } from './stack.ts';

/** Ports nothing listens on now (each one bound and released by the OS). */
export async function sparePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A free port whose next port is free too (Weaviate's gossip/data and Raft ports go in such pairs). */
async function sparePortPair(): Promise<number> {
  for (;;) {
    const [p] = await sparePorts(1);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(p! + 1, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free && p! < 65535) return p!;
  }
}

export interface TestCertificates {
  dir: string;
  /** The test CA (PEM file) and the server certificate it signed, for 127.0.0.1 and localhost. */
  caFile: string;
  certFile: string;
  keyFile: string;
  ca: string;
  cert: string;
  key: string;
}

/** A throwaway CA and a server certificate it signed (openssl, valid 2 days). */
export function makeTestCertificates(dir: string): TestCertificates {
  mkdirSync(dir, { recursive: true });
  const at = (f: string) => join(dir, f);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=ragline-test-ca',
  );
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(at('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
  const read = (f: string) => readFileSync(at(f), 'utf8');
  return {
    dir,
    caFile: at('ca.pem'),
    certFile: at('server.pem'),
    keyFile: at('server.key'),
    ca: read('ca.pem'),
    cert: read('server.pem'),
    key: read('server.key'),
  };
}

export interface SecuredServer {
  /** Stops the process and waits for it to exit. */
  stop(): Promise<void>;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Runs `command`, logging to `logFile`, until `ready` says so; fails with the log's tail if it exits first. */
async function startProcess(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
  ready: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<SecuredServer> {
  const log = openSync(logFile, 'a');
  const child = spawn(command, args, { env, stdio: ['ignore', log, log] });
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
        return (await ready()) ? true : undefined;
      },
      timeoutMs,
      `${what} to start`,
    );
  } catch (err) {
    await stopChild(child);
    throw new Error(`${(err as Error).message}\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
  }
  return { stop: () => stopChild(child) };
}

export interface AuthWeaviate extends SecuredServer {
  http: number;
  grpc: number;
}

/**
 * Weaviate with API-key authentication and no anonymous access, same binary and settings as infra/services/weaviate.ts.
 * With `tls`, REST is HTTPS and gRPC is TLS, both with the given server certificate.
 */
export async function startAuthWeaviate(opts: {
  dataDir: string;
  keys: string[];
  tls?: TestCertificates;
}): Promise<AuthWeaviate> {
  const [http, grpc] = (await sparePorts(2)) as [number, number];
  const gossip = await sparePortPair();
  const raft = await sparePortPair();
  const binary = join(stack.cacheDir, 'go-bin', `weaviate-${VERSIONS.weaviate}`, 'weaviate-server');
  mkdirSync(opts.dataDir, { recursive: true });
  const scheme = opts.tls
    ? ['--scheme', 'https', '--tls-host', '127.0.0.1', '--tls-port', String(http)]
    : ['--scheme', 'http', '--host', '127.0.0.1', '--port', String(http)];
  const tlsArgs = opts.tls ? ['--tls-certificate', opts.tls.certFile, '--tls-key', opts.tls.keyFile] : [];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PERSISTENCE_DATA_PATH: join(opts.dataDir, 'data'),
    AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED: 'false',
    AUTHENTICATION_APIKEY_ENABLED: 'true',
    AUTHENTICATION_APIKEY_ALLOWED_KEYS: opts.keys.join(','),
    AUTHENTICATION_APIKEY_USERS: opts.keys.map((_, i) => `ragline-${i}`).join(','),
    DEFAULT_VECTORIZER_MODULE: 'none',
    ENABLE_MODULES: '',
    DISABLE_TELEMETRY: 'true',
    CLUSTER_HOSTNAME: 'node1',
    CLUSTER_IN_LOCALHOST: 'true',
    CLUSTER_GOSSIP_BIND_PORT: String(gossip),
    CLUSTER_DATA_BIND_PORT: String(gossip + 1),
    RAFT_PORT: String(raft),
    RAFT_INTERNAL_RPC_PORT: String(raft + 1),
    RAFT_BOOTSTRAP_EXPECT: '1',
    GRPC_PORT: String(grpc),
    ...(opts.tls ? { GRPC_CERT_FILE: opts.tls.certFile, GRPC_KEY_FILE: opts.tls.keyFile } : {}),
    LOG_LEVEL: 'warning',
  };
  // Readiness needs no key; over TLS the probe trusts the test CA only.
  const base = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${http}`;
  const ready = async () => {
    const res = await fetchReady(`${base}/v1/.well-known/ready`, opts.tls?.ca);
    return res === 200;
  };
  const server = await startProcess(
    binary,
    [...scheme, ...tlsArgs],
    env,
    join(opts.dataDir, 'weaviate.log'),
    ready,
    90_000,
    'weaviate',
  );
  return { ...server, http, grpc };
}

async function fetchReady(url: string, ca: string | undefined): Promise<number> {
  if (!ca) return (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

export interface SaslKafka extends SecuredServer {
  /** SASL over plain TCP, and SASL over TLS (the test CA's server certificate). */
  saslPlaintext: string;
  saslSsl: string;
}

/**
 * A single KRaft Kafka node (the jars infra/services/kafka.ts installed) whose client listeners demand SASL: PLAIN with
 * the given users, and SCRAM-SHA-256/512 with the same users and passwords; one listener in clear, one over TLS.
 * Brokers talk to themselves on a third, unauthenticated listener bound to 127.0.0.1.
 */
export async function startSaslKafka(opts: {
  dataDir: string;
  users: Record<string, string>;
  tls: TestCertificates;
}): Promise<SaslKafka> {
  const [internal, saslPlain, saslSsl, controller] = (await sparePorts(4)) as [number, number, number, number];
  mkdirSync(opts.dataDir, { recursive: true });
  const at = (f: string) => join(opts.dataDir, f);
  writeFileSync(at('keystore.pem'), `${opts.tls.key}\n${opts.tls.cert}`);
  const plainUsers = Object.entries(opts.users)
    .map(([u, p]) => `user_${u}="${p}"`)
    .join(' ');
  const jaas = (listener: string) => [
    `listener.name.${listener}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`,
    `listener.name.${listener}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
    `listener.name.${listener}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
  ];
  writeFileSync(
    at('server.properties'),
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.bootstrap.servers=127.0.0.1:${controller}`,
      `listeners=INTERNAL://127.0.0.1:${internal},SASL_PLAINTEXT://127.0.0.1:${saslPlain},SASL_SSL://127.0.0.1:${saslSsl},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=INTERNAL://127.0.0.1:${internal},SASL_PLAINTEXT://127.0.0.1:${saslPlain},SASL_SSL://127.0.0.1:${saslSsl}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=INTERNAL',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL',
      'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
      ...jaas('sasl_plaintext'),
      ...jaas('sasl_ssl'),
      'ssl.keystore.type=PEM',
      `ssl.keystore.location=${at('keystore.pem')}`,
      `log.dirs=${at('logs')}`,
      'num.partitions=1',
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
      '',
    ].join('\n'),
  );
  writeFileSync(
    at('log4j2.properties'),
    [
      'rootLogger.level=WARN',
      'rootLogger.appenderRef.stdout.ref=STDOUT',
      'appender.stdout.type=Console',
      'appender.stdout.name=STDOUT',
      'appender.stdout.layout.type=PatternLayout',
      'appender.stdout.layout.pattern=[%d] %p %m (%c)%n',
      'logger.started.name=kafka.server.KafkaRaftServer',
      'logger.started.level=INFO',
      '',
    ].join('\n'),
  );
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const cp = `${join(stack.cacheDir, `kafka-${VERSIONS.kafka}`, 'libs')}/*`;
  const logOpt = `-Dlog4j2.configurationFile=${at('log4j2.properties')}`;
  const scram = Object.entries(opts.users).flatMap(([u, p]) =>
    ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${u},password=${p}]`]),
  );
  execFileSync(
    java,
    [
      '-cp',
      cp,
      logOpt,
      'kafka.tools.StorageTool',
      'format',
      '--standalone',
      '-t',
      randomBytes(16).toString('base64url'),
      '-c',
      at('server.properties'),
      ...scram,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const logFile = at('kafka.log');
  const server = await startProcess(
    java,
    [
      '-Xms128m',
      '-Xmx512m',
      '-XX:+UseG1GC',
      '-XX:TieredStopAtLevel=1',
      '-Djava.awt.headless=true',
      logOpt,
      '-cp',
      cp,
      'kafka.Kafka',
      at('server.properties'),
    ],
    process.env,
    logFile,
    async () => readFileSync(logFile, 'utf8').includes('Kafka Server started'),
    90_000,
    'kafka',
  );
  return { ...server, saslPlaintext: `127.0.0.1:${saslPlain}`, saslSsl: `127.0.0.1:${saslSsl}` };
}
