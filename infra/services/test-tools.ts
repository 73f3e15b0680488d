import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from '../config.ts';
import { mavenInstall, run } from '../install.ts';
import { VERSIONS } from '../versions.ts';
import { installChromium } from './chromium.ts';
import { installKustomize } from '../kustomize.ts';

/**
 * Clients that are not ours, for end-to-end tests: Kafka's own console tools, the AWS CLI and headless Chromium (see
 * chromium.ts, where its paths and `missingChromium` live). They are not
 * services (nothing to start or probe), so `infra:up` installs them beside the servers and `infra:status` ignores them.
 */
export interface TestToolPaths {
  /** The AWS CLI (v1, from PyPI) in its own small venv. */
  aws: string;
  /** Java classpath holding org.apache.kafka.tools.* (ConsoleProducer, ConsoleConsumer, ...) with a log binding. */
  kafkaToolsClasspath: string;
  /** log4j2 config that keeps the tools quiet: warnings and errors only, on stderr. */
  kafkaToolsLog4j: string;
}

/**
 * Exact pins for the AWS CLI venv: awscli and everything it pulls in (`pip freeze` of a fresh install). A separate
 * venv, not the Milvus/Chroma one: adding a package there changes that venv's hash and reinstalls chromadb and
 * milvus-lite (hundreds of MB) for a 15 MB tool, and the tool should not share site-packages with the servers.
 */
const AWSCLI_REQUIREMENTS = [
  `awscli==${VERSIONS.awscli}`,
  'colorama==0.4.6',
  'docutils==0.19',
  'jmespath==1.1.0',
  'pyasn1==0.6.5',
  'python-dateutil==2.9.0.post0',
  'PyYAML==6.0.4',
  'rsa==4.7.2',
  'six==1.17.0',
  'urllib3==2.8.0',
];

const TOOLS_LOG4J = `rootLogger.level=WARN
rootLogger.appenderRef.stderr.ref=STDERR
appender.stderr.type=Console
appender.stderr.name=STDERR
appender.stderr.target=SYSTEM_ERR
appender.stderr.layout.type=PatternLayout
appender.stderr.layout.pattern=%p %m (%c)%n
`;

function awsVenv(config: StackConfig): string {
  return join(config.cacheDir, `awscli-${VERSIONS.awscli}`);
}

function kafkaToolsDir(config: StackConfig): string {
  return join(config.cacheDir, `kafka-tools-${VERSIONS.kafka}`);
}

export function testToolPaths(config: StackConfig): TestToolPaths {
  return {
    aws: join(awsVenv(config), 'bin', 'aws'),
    kafkaToolsClasspath: `${join(kafkaToolsDir(config), 'libs')}/*`,
    kafkaToolsLog4j: join(kafkaToolsDir(config), 'log4j2.properties'),
  };
}

/** What is not installed yet, as readable lines (empty when every tool is in place). */
export function missingTestTools(config: StackConfig): string[] {
  const missing: string[] = [];
  if (!existsSync(join(awsVenv(config), '.complete'))) missing.push(`AWS CLI ${VERSIONS.awscli} (${awsVenv(config)})`);
  if (!existsSync(join(kafkaToolsDir(config), '.complete')))
    missing.push(`Kafka console tools ${VERSIONS.kafka} (${kafkaToolsDir(config)})`);
  return missing;
}

/** Idempotent and cached like the servers' installs; returns at once when every tool is in place. */
export async function installTestTools(config: StackConfig, log: (line: string) => void): Promise<TestToolPaths> {
  const paths = testToolPaths(config);
  await Promise.all([
    installAwsCli(config, log),
    installKafkaTools(config, log),
    installChromium(config, log),
    installKustomize(config, log),
  ]);
  return paths;
}

async function installKafkaTools(config: StackConfig, log: (line: string) => void): Promise<void> {
  await mavenInstall({
    cacheDir: config.cacheDir,
    name: 'kafka-tools',
    version: VERSIONS.kafka,
    artifacts: [
      { groupId: 'org.apache.kafka', artifactId: 'kafka-tools', version: VERSIONS.kafka },
      { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j-impl', version: VERSIONS.log4jSlf4j },
    ],
    log,
  });
  writeFileSync(testToolPaths(config).kafkaToolsLog4j, TOOLS_LOG4J);
}

async function installAwsCli(config: StackConfig, log: (line: string) => void): Promise<void> {
  const dir = awsVenv(config);
  if (existsSync(join(dir, '.complete'))) return;
  // A venv is not relocatable (its scripts name their interpreter by path), so it is built in place and marked
  // complete last: an interrupted install is simply redone.
  log(`installing AWS CLI ${VERSIONS.awscli} into a venv from PyPI`);
  const logFile = join(config.cacheDir, 'logs', 'install-awscli.log');
  await run('create AWS CLI venv', config.python, ['-m', 'venv', '--clear', dir], { logFile });
  await run('install AWS CLI', join(dir, 'bin', 'pip'), ['install', '--disable-pip-version-check', ...AWSCLI_REQUIREMENTS], {
    logFile,
  });
  writeFileSync(join(dir, '.complete'), new Date().toISOString());
}
