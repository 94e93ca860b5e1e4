import type { RestClient } from '@stateful-migration/kube';

/**
 * Deletes a benchmark's namespace and waits (up to 5 minutes) until it is gone, so the next run does not pay for this
 * one's clean-up.
 */
export async function deleteNamespace(client: RestClient, ns: string): Promise<void> {
  await client.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
  for (const until = Date.now() + 300_000; Date.now() < until; await new Promise((r) => setTimeout(r, 1000)))
    if (
      !(await client.get(`/api/v1/namespaces/${ns}`).then(
        () => true,
        () => false,
      ))
    )
      return;
}
