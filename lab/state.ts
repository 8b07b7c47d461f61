// The record of everything a running lab created, under /run/flowlens-lab,
// written before each resource is made so an interrupted `up` can still be
// torn down completely.
import * as fs from "node:fs";
import * as path from "node:path";
import { LabError } from "./errors";

export interface NftTableRecord { netns: string; family: string; table: string }

export interface LabState {
  name: string;
  createdAt: string;
  dir: string;
  netns: string[];
  /** Cgroup directories, parents before children. */
  cgroups: string[];
  nftTables: NftTableRecord[];
  /** Links as "netns/ifname" (they go with their namespace, recorded to be checked). */
  links: string[];
  processes: { pid: number; what: string }[];
  /** Addresses of the running control plane, for `lab status`, `observe` and tests. */
  endpoints: { relay?: string; ui?: string; agents: string[] };
  components: string[];
  sidecars: boolean;
}

export class StateFile {
  constructor(readonly file: string, readonly state: LabState) {}

  static create(file: string, name: string, dir: string, sidecars: boolean): StateFile {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    const s = new StateFile(file, {
      name, createdAt: new Date().toISOString(), dir, netns: [], cgroups: [], nftTables: [], links: [], processes: [],
      endpoints: { agents: [] }, components: [], sidecars,
    });
    s.save();
    return s;
  }

  static load(file: string): StateFile | undefined {
    if (!fs.existsSync(file)) return undefined;
    try {
      return new StateFile(file, JSON.parse(fs.readFileSync(file, "utf8")) as LabState);
    } catch (err) {
      throw new LabError(`state file ${file} is unreadable (${(err as Error).message}); remove it and run \`flowlens lab down\` again`);
    }
  }

  update(change: (s: LabState) => void): void {
    change(this.state);
    this.save();
  }

  save(): void {
    fs.writeFileSync(`${this.file}.tmp`, JSON.stringify(this.state, null, 2));
    fs.renameSync(`${this.file}.tmp`, this.file);
  }
}
