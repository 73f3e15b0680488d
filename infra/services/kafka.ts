import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { hideKafkajsTimerWarning } from '../../connectors/shared/node-warnings.ts';
import { run, mavenInstall } from '../install.ts';
import type { Service, ServiceContext } from '../service.ts';
import { VERSIONS } from '../versions.ts';

function libsDir(cacheDir: string): string {
  return join(cacheDir, `kafka-${VERSIONS.kafka}`, 'libs');
}

const LOG4J2 = `rootLogger.level=INFO
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=WARN
logger.apache.name=org.apache.kafka
logger.apache.level=WARN
logger.started.name=kafka.server.KafkaRaftServer
logger.started.level=INFO
`;

/** Single-node Kafka in KRaft mode (broker and controller in one JVM), from Maven Central jars. */
export const kafka: Service = {
  name: 'kafka',
  version: VERSIONS.kafka,
  after: [],
  startTimeoutMs: 90_000,
  ports: (c) => [c.ports.kafka, c.ports.kafkaController],
  endpoint: (c) => `127.0.0.1:${c.ports.kafka}`,

  async install(ctx) {
    await mavenInstall({
      cacheDir: ctx.config.cacheDir,
      name: 'kafka',
      version: VERSIONS.kafka,
      artifacts: [
        { groupId: 'org.apache.kafka', artifactId: 'kafka_2.13', version: VERSIONS.kafka },
        { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j-impl', version: VERSIONS.log4jSlf4j },
      ],
      log: ctx.log,
    });
  },

  async launch(ctx: ServiceContext) {
    const { ports } = ctx.config;
    const logDirs = join(ctx.dataDir, 'log-dirs');
    const props = join(ctx.dataDir, 'server.properties');
    const log4j = join(ctx.dataDir, 'log4j2.properties');
    writeFileSync(
      props,
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.bootstrap.servers=127.0.0.1:${ports.kafkaController}`,
        `listeners=PLAINTEXT://127.0.0.1:${ports.kafka},CONTROLLER://127.0.0.1:${ports.kafkaController}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${ports.kafka}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        `log.dirs=${logDirs}`,
        'num.partitions=3',
        'offsets.topic.replication.factor=1',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'share.coordinator.state.topic.replication.factor=1',
        'share.coordinator.state.topic.min.isr=1',
        'group.initial.rebalance.delay.ms=0',
        'auto.create.topics.enable=true',
        '',
      ].join('\n'),
    );
    writeFileSync(log4j, LOG4J2);
    const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
    const cp = `${libsDir(ctx.config.cacheDir)}/*`;
    const logOpt = `-Dlog4j2.configurationFile=${log4j}`;
    if (!existsSync(join(logDirs, 'meta.properties'))) {
      // KRaft storage is formatted once per data dir, with a fresh cluster id (16 random bytes, base64url).
      const clusterId = randomBytes(16).toString('base64url');
      await run(
        'format kafka storage',
        java,
        ['-cp', cp, logOpt, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', clusterId, '-c', props],
        {
          logFile: ctx.logFile,
        },
      );
    }
    return {
      command: java,
      args: ['-Xms256m', '-Xmx768m', '-XX:+UseG1GC', '-Djava.awt.headless=true', logOpt, '-cp', cp, 'kafka.Kafka', props],
    };
  },

  async probe(config) {
    hideKafkajsTimerWarning();
    const client = new Kafka({
      clientId: 'ragline-infra',
      brokers: [`127.0.0.1:${config.ports.kafka}`],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 2000,
      retry: { retries: 0 },
    });
    const admin = client.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      return { ok: cluster.brokers.length > 0, version: VERSIONS.kafka, detail: `cluster ${cluster.clusterId}` };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  },
};
