/**
 * The `tenants:` section of an instance (src/feedback/tenant.ts): where a message's tenant comes
 * from, in order of precedence, and the header that carries it between the fleet's instances.
 *
 *   tenants:
 *     from: [auth_user, header, sender_domain]   # default: [auth_user, header]
 *     header: X-Mailfleet-Tenant                  # default
 */
import { z } from "zod";
import { DEFAULT_TENANT_HEADER, TENANT_SOURCES, type TenantsConfig } from "../feedback/tenant.ts";

const HEADER_NAME_RE = /^[!-9;-~]+$/;
const HEADER_EXPECTED = "a header field name such as X-Mailfleet-Tenant";

export const tenantsSchema = z
  .strictObject({
    from: z
      .array(z.enum(TENANT_SOURCES as [string, ...string[]]))
      .refine((list) => new Set(list).size === list.length, { message: "expected each source at most once" })
      .prefault(["auth_user", "header"]),
    header: z
      .string()
      .refine((name) => HEADER_NAME_RE.test(name), {
        message: `expected ${HEADER_EXPECTED}`,
        params: { expected: HEADER_EXPECTED },
      })
      .prefault(DEFAULT_TENANT_HEADER),
  })
  .prefault({});

export function finishTenants(section: z.output<typeof tenantsSchema>): TenantsConfig {
  return { from: section.from as TenantsConfig["from"], header: section.header };
}
