import { describe, expect, it } from 'vitest';
import ClusterViewPorts from '../../serverless/cluster-view-ports.cjs';

/**
 * serverless/cluster-view-ports.cjs: under `sls offline start`, the Kafka state's port and the
 * cluster page's URL of it follow serverless-offline's Lambda port (the variables of
 * serverless.yml cannot see `--lambdaPort`: they resolve to 3003 whatever it is).
 */

const serviceWith = (custom: Record<string, unknown>) => ({
  service: {
    custom,
    functions: {
      clusterView: { environment: { KAFKA_STATE_URL: 'http://127.0.0.1:3003/state' } },
    },
  },
});

const startOffline = (serverless: ReturnType<typeof serviceWith>, options = {}) => {
  const plugin = new ClusterViewPorts(serverless, options) as {
    hooks: Record<string, () => void>;
  };
  plugin.hooks['before:offline:start:init']?.();
  return serverless.service;
};

describe('ClusterViewPorts', () => {
  it('puts the state on --lambdaPort + 1, and tells the page', () => {
    const service = startOffline(serviceWith({ 'serverless-offline-kafka': { statePort: 3003 } }), {
      lambdaPort: '4312',
    });
    expect(service.custom['serverless-offline-kafka']).toEqual({ statePort: 4313 });
    expect(service.functions.clusterView.environment.KAFKA_STATE_URL).toBe(
      'http://127.0.0.1:4313/state',
    );
  });

  it("takes serverless-offline's own Lambda port when the command line gives none", () => {
    const service = startOffline(
      serviceWith({
        'serverless-offline-kafka': { statePort: 3003 },
        'serverless-offline': { lambdaPort: 5002 },
      }),
    );
    expect(service.custom['serverless-offline-kafka']).toEqual({ statePort: 5003 });
    expect(service.functions.clusterView.environment.KAFKA_STATE_URL).toBe(
      'http://127.0.0.1:5003/state',
    );
  });

  it('serves no state where none was asked for', () => {
    const service = startOffline(serviceWith({ 'serverless-offline-kafka': {} }), {
      lambdaPort: '4312',
    });
    expect(service.custom['serverless-offline-kafka']).toEqual({});
  });
});
