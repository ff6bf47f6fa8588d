/**
 * Development certificates for the listener's TLS (`mailfleet tls self-signed`): an ECDSA P-256
 * key made with node:crypto and a self-signed X.509 v3 certificate for a host name (plus
 * localhost, 127.0.0.1 and ::1), valid for a year.
 *
 * Why this way: node:crypto makes keys and signatures but cannot build a certificate.
 * `@peculiar/x509` can, but needs a global Reflect polyfill (tsyringe); `selfsigned` pulls in that
 * same library plus pkijs; shelling out to `openssl` ties the command to a binary that may be
 * missing. So the certificate is assembled from the ASN.1 classes of `@peculiar/asn1-x509` (pure
 * TypeScript, no compile step, maintained by PeculiarVentures, already in the tree through
 * mailauth) and signed with node:crypto.
 */
import { generateKeyPairSync, type KeyObject, randomBytes, sign, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_subjectAltName,
  id_kp_serverAuth,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from "@peculiar/asn1-x509";

const ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
const COMMON_NAME = "2.5.4.3";
const DAY_MS = 86_400_000;

export interface SelfSignedOptions {
  hostname: string;
  /** Validity in days (default 365). */
  days?: number;
  now?: Date;
}

export interface KeyAndCertificate {
  /** PKCS#8 PEM. */
  keyPem: string;
  certPem: string;
}

function arrayBuffer(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
}

function extension(id: string, critical: boolean, value: object): Extension {
  return new Extension({ extnID: id, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function subjectAltNames(hostname: string): GeneralName[] {
  const names = [hostname, "localhost", "127.0.0.1", "::1"].filter((n, i, all) => all.indexOf(n) === i);
  return names.map((n) => (isIP(n) ? new GeneralName({ iPAddress: n }) : new GeneralName({ dNSName: n })));
}

function certificate(options: SelfSignedOptions, publicKey: KeyObject, privateKey: KeyObject): string {
  const now = options.now ?? new Date();
  const algorithm = new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 });
  const name = new Name([
    new RelativeDistinguishedName([
      new AttributeTypeAndValue({
        type: COMMON_NAME,
        value: new AttributeValue({ utf8String: options.hostname }),
      }),
    ]),
  ]);
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f; // a positive INTEGER
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: arrayBuffer(serial),
    signature: algorithm,
    issuer: name,
    subject: name,
    validity: new Validity({
      notBefore: new Date(now.getTime() - 5 * 60_000), // tolerate a little clock skew
      notAfter: new Date(now.getTime() + (options.days ?? 365) * DAY_MS),
    }),
    subjectPublicKeyInfo: AsnConvert.parse(
      publicKey.export({ type: "spki", format: "der" }),
      SubjectPublicKeyInfo,
    ),
    extensions: new Extensions([
      extension(id_ce_subjectAltName, false, new SubjectAlternativeName(subjectAltNames(options.hostname))),
      extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
      extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth])),
    ]),
  });
  const signature = sign("sha256", Buffer.from(AsnConvert.serialize(tbs)), privateKey);
  const cert = new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: algorithm,
    signatureValue: arrayBuffer(signature),
  });
  return pem("CERTIFICATE", Buffer.from(AsnConvert.serialize(cert)));
}

/** A fresh key and a self-signed certificate for `hostname`. */
export function createSelfSigned(options: SelfSignedOptions): KeyAndCertificate {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const certPem = certificate(options, publicKey, privateKey);
  // Parse it back: a broken encoding should fail here, not in a client's handshake.
  if (!new X509Certificate(certPem).verify(publicKey))
    throw new Error("self-signed certificate does not verify");
  return { keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), certPem };
}
