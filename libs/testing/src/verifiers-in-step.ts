import { eventually } from './stream-reader.js';

/** A gauge's value in a Prometheus text exposition, or undefined. */
function gauge(exposition: string, name: string): number | undefined {
  const line = exposition.split('\n').find((candidate) => candidate.startsWith(`${name}{`) || candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/**
 * Waits until the verifiers on these HTTP ports share rate limits and credits with each other:
 * each counts them all as members and takes its share (its `/metrics`). Verifiers learn of
 * each other from their rate-limit reports, and on a loaded machine a fixed pause could end
 * before a late starter had been heard (the join is outside the limits' bound,
 * docs/architecture.md).
 */
export async function verifiersInStep(httpPorts: readonly number[]): Promise<void> {
  const states = async (): Promise<string[]> =>
    Promise.all(
      httpPorts.map(async (port) => {
        const exposition = await fetch(`http://127.0.0.1:${port}/metrics`)
          .then((response) => response.text())
          .catch(() => '');
        return `${gauge(exposition, 'keyledger_rate_limit_members')}/${gauge(exposition, 'keyledger_rate_limit_sharing')}`;
      }),
    );
  await eventually(`${httpPorts.length} verifiers sharing limits (members/sharing)`, states, (all) => all.every((state) => state === `${httpPorts.length}/1`));
}
