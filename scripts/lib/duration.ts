const UNIT_S = { s: 1, m: 60, h: 3_600, d: 86_400 } as const;

/**
 * A duration such as `90`, `90s`, `15m`, `1h` or `1d`, in whole seconds from 1 to `maxS`.
 * @throws Error naming `name`, what is expected and what was received
 */
export const parseDurationS = (name: string, text: string, maxS: number): number => {
  const match = /^(\d{1,6})([smhd]?)$/.exec(text.trim());
  const seconds = match
    ? Number(match[1]) * UNIT_S[(match[2] || 's') as keyof typeof UNIT_S]
    : Number.NaN;
  if (!(seconds >= 1 && seconds <= maxS)) {
    throw new Error(
      `${name}: expected a duration from 1s to ${maxS}s, such as 15m or 1h; received "${text}"`,
    );
  }
  return seconds;
};
