import type { KafkaClient } from '@aws-sdk/client-kafka';
import type { GenerateAuthTokenResponse } from 'aws-msk-iam-sasl-signer-js';
import type { OauthbearerProviderResponse } from 'kafkajs';
import { NoIamBrokersError } from '../errors.js';

/** Refresh an IAM token this long before it expires (tokens last 15 minutes). */
export const TOKEN_REFRESH_MARGIN_MS = 60_000;

export type SignToken = (options: { region: string }) => Promise<GenerateAuthTokenResponse>;

/**
 * An OAUTHBEARER token provider for MSK IAM auth. kafkajs calls it for each (re)authentication;
 * the token is reused until it comes within `TOKEN_REFRESH_MARGIN_MS` of its expiry. Concurrent
 * callers share one signing. When a refresh fails while the current token is still valid, that
 * token is used and the next call tries again.
 */
export const createMskTokenProvider = (
  region: string,
  sign: SignToken,
  now: () => number = Date.now,
): (() => Promise<OauthbearerProviderResponse>) => {
  let current: GenerateAuthTokenResponse | undefined;
  let pending: Promise<GenerateAuthTokenResponse> | undefined;
  const refresh = (): Promise<GenerateAuthTokenResponse> => {
    // `current` is set before `pending` is cleared, so no caller ever starts a second signing.
    pending ??= sign({ region })
      .then((token) => {
        current = token;
        return token;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
  return async () => {
    const held = current;
    if (held && held.expiryTime - now() > TOKEN_REFRESH_MARGIN_MS) return { value: held.token };
    try {
      return { value: (await refresh()).token };
    } catch (error) {
      if (held && held.expiryTime > now()) return { value: held.token };
      throw error;
    }
  };
};

/** The part of the MSK API client discovery uses. */
export type MskApi = Pick<KafkaClient, 'send'>;

/**
 * Looks up the cluster's IAM bootstrap brokers (`BootstrapBrokerStringSaslIam`, port 9098)
 * once per container. A failed lookup is not cached, so the next connection attempt asks again.
 *
 * `client` is asked for on the first lookup, and the MSK API module is loaded then: a function
 * given `KAFKA_BROKERS` never loads it, and one that looks the brokers up does not load it
 * during its module init.
 * @throws NoIamBrokersError when the cluster has no IAM listener
 */
export const createBrokerDiscovery = (
  clusterArn: string,
  client: () => MskApi | Promise<MskApi>,
): (() => Promise<string[]>) => {
  let brokers: Promise<string[]> | undefined;
  const lookUp = async (): Promise<string[]> => {
    const [{ GetBootstrapBrokersCommand }, api] = await Promise.all([
      import('@aws-sdk/client-kafka'),
      client(),
    ]);
    const out = await api.send(new GetBootstrapBrokersCommand({ ClusterArn: clusterArn }));
    const list = (out.BootstrapBrokerStringSaslIam ?? '')
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    if (list.length === 0) {
      throw new NoIamBrokersError(
        `Cluster ${clusterArn} has no IAM bootstrap brokers: enable IAM authentication on it or set KAFKA_BROKERS.`,
      );
    }
    return list;
  };
  return () => {
    brokers ??= lookUp().catch((error: unknown) => {
      brokers = undefined;
      throw error;
    });
    return brokers;
  };
};
