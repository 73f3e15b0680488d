// The workflow interceptors of a tracing worker (bundled by workers/bundle.ts; this runs inside the workflow sandbox).
// The OpenTelemetry package's own module also wraps update handlers and validators: that moves the point at which
// an update completes relative to the workflow's other commands, and the recorded histories of source runs that took
// an update (test/replay/histories) failed to replay on a worker with it: turning tracing on would break the source
// runs open at the time. Updates are therefore not traced inside the workflow (their client-side StartWorkflowUpdate
// spans still are); workflow runs, signals, activities, children and continue-as-new are. test/e2e/tracing.test.ts
// replays the recorded histories on this bundle, and a traced run's histories on the bundle without tracing.
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';
import type { WorkflowInterceptors } from '@temporalio/workflow';

export const interceptors = (): WorkflowInterceptors => {
  const otel = new OpenTelemetryInboundInterceptor();
  return {
    inbound: [
      {
        execute: (input, next) => otel.execute(input, next),
        handleSignal: (input, next) => otel.handleSignal(input, next),
      },
    ],
    outbound: [new OpenTelemetryOutboundInterceptor()],
    internals: [new OpenTelemetryInternalsInterceptor()],
  };
};
