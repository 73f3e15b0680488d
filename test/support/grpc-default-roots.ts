// Imported first by tests that give a gRPC client a private CA through Node's default roots
// (connectors/shared/tls.ts). When GRPC_DEFAULT_SSL_ROOTS_FILE_PATH is set, @grpc/grpc-js reads its default roots
// from that file instead of Node's, once, when the module loads; a host that sets it must put the CA in that file
// (README, Credentials). The tests check the sink's own CA option, so they clear it before grpc-js loads.
delete process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH;
