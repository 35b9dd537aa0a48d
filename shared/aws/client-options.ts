/** The bounds a caller puts on every call of an AWS client, so that no answer costs seconds. */
export interface AwsClientBounds {
  readonly CONNECTION_TIMEOUT_MS: number;
  readonly REQUEST_TIMEOUT_MS: number;
  readonly MAX_ATTEMPTS: number;
  /**
   * Whether an answer later than `REQUEST_TIMEOUT_MS` fails the attempt (default true). Off only
   * where a late answer must be waited for: a conditional write the SDK would send again after
   * the store has applied it is then refused as if another request held it.
   */
  readonly THROW_ON_REQUEST_TIMEOUT?: boolean;
  /** Region of a local endpoint when `AWS_REGION` is unset (the SDK needs one to sign). */
  readonly LOCAL_REGION: string;
}

/**
 * The options every AWS SDK client of ours gets: `bounds`, and either AWS in `region` or a local
 * emulator (dynalite, serverless-offline), signed with dummy credentials.
 */
export const awsClientOptions = (
  bounds: AwsClientBounds,
  { region, local }: { readonly region?: string | undefined; readonly local: boolean },
) => ({
  maxAttempts: bounds.MAX_ATTEMPTS,
  requestHandler: {
    connectionTimeout: bounds.CONNECTION_TIMEOUT_MS,
    requestTimeout: bounds.REQUEST_TIMEOUT_MS,
    // Without it, the SDK's Node handler (@smithy/node-http-handler 4) only warns when the
    // request timeout passes, and the request waits on: the bound would bound nothing.
    throwOnRequestTimeout: bounds.THROW_ON_REQUEST_TIMEOUT ?? true,
  },
  ...(local
    ? {
        region: region ?? bounds.LOCAL_REGION,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }
    : region
      ? { region }
      : {}),
});
