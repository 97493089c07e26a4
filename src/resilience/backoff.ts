/**
 * Full-jitter exponential backoff (AWS architecture blog, "Exponential Backoff And Jitter"): a uniform
 * delay in [0, min(maxMs, baseMs · 2^retry)). Spreads retries so they never synchronise.
 */
export function fullJitterBackoff(
  retry: number,
  baseMs: number,
  maxMs: number,
  random: () => number,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, retry))
  return Math.floor(random() * ceiling)
}
