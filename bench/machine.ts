/**
 * Facts about the machine a benchmark ran on, recorded next to the figures: ratios only mean
 * something for the CPU, memory, disk and kernel they were measured on.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, totalmem } from "node:os";

export interface MachineFacts {
  nproc: number;
  cpuModel: string;
  memTotalGiB: number;
  kernel: string;
  os: string;
  node: string;
  postfix: string | null;
  /** The file system holding the spool directories (findmnt on the work dir): its mount point, not the dir. */
  spoolFs: { mount: string; source: string; fstype: string; options: string; freeGiB: number };
  /** 1/5/15-minute load when the benchmark started: others' work on this machine skews results. */
  loadAtStart: number[];
}

function sh(cmd: string, args: string[]): string {
  const res = spawnSync(cmd, args, { encoding: "utf8", timeout: 10_000 });
  return res.status === 0 ? res.stdout.trim() : "";
}

export function machineFacts(spoolDir: string, postfixVersion: string | null): MachineFacts {
  const [mount = "?", source = "?", fstype = "?", options = "?"] = sh("findmnt", [
    "-n",
    "-o",
    "TARGET,SOURCE,FSTYPE,OPTIONS",
    "--target",
    spoolDir,
  ]).split(/\s+/);
  const avail = Number(sh("df", ["--output=avail", "-B1", spoolDir]).split("\n")[1] ?? 0);
  let os = "?";
  try {
    os = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "?";
  } catch {}
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? "?",
    memTotalGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    os,
    node: process.version,
    postfix: postfixVersion,
    spoolFs: { mount, source, fstype, options, freeGiB: Math.round(avail / 1024 ** 3) },
    loadAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
