/**
 * History <-> the JSON `temporal workflow show --output json` prints: the SDK's historyToJSON /
 * historyFromJSON, and a fallback for the install they break in.
 *
 * Why the fallback: @temporalio/common, /proto and /worker 1.24.0 each got their own nested
 * protobufjs@8.8.1 here (the top-level protobufjs is 7.x, for @grpc/proto-loader). The history
 * Type comes from @temporalio/proto's copy, while common's protojson checks `instanceof Type`
 * against its own copy and throws "type must be a Type" -- so historyFromJSON, historyToJSON and
 * Worker.runReplayHistory given JSON all fail. The fallback runs the same protojson from the
 * copy @temporalio/proto uses; the JSON is the same either way.
 */
import path from 'node:path';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';
import { historyFromJSON, historyToJSON, type History } from '@temporalio/common/lib/proto-utils';

export type { History };

interface ReflectedType {
  fromObject(value: object): object;
}
interface ProtoJson {
  fromJson(type: ReflectedType, json: unknown, options?: { ignoreUnknownFields?: boolean }): History | null;
  toJson(type: ReflectedType, message: object): unknown;
}

function isSplitProtobufjs(err: unknown): boolean {
  return err instanceof TypeError && err.message === 'type must be a Type';
}

let fallback: { protojson: ProtoJson; historyType: ReflectedType } | undefined;
function protoCopy(): NonNullable<typeof fallback> {
  if (!fallback) {
    const protoDir = path.dirname(require.resolve('@temporalio/proto/package.json'));
    const protojson = require(require.resolve('protobufjs/ext/protojson', { paths: [protoDir] })) as ProtoJson;
    // The generated module's types lack the reflection methods the patched root has.
    const root = patchProtobufRoot(proto) as unknown as { lookupType(name: string): ReflectedType };
    fallback = { protojson, historyType: root.lookupType('temporal.api.history.v1.History') };
  }
  return fallback;
}

/** JSON text of a history, indented as the Temporal CLI prints it. */
export function historyToJsonText(history: History): string {
  try {
    return historyToJSON(history);
  } catch (err) {
    if (!isSplitProtobufjs(err)) throw err;
    const { protojson, historyType } = protoCopy();
    return JSON.stringify(protojson.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history)), null, 2);
  }
}

/** A history from its JSON (as historyToJsonText or `temporal workflow show --output json` wrote it). */
export function historyFromJsonText(text: string): History {
  const json: unknown = JSON.parse(text);
  try {
    return historyFromJSON(json);
  } catch (err) {
    if (!isSplitProtobufjs(err)) throw err;
    const { protojson, historyType } = protoCopy();
    const history = protojson.fromJson(historyType, json, { ignoreUnknownFields: true });
    if (!history?.events?.length) throw new TypeError('not a history: no events');
    return history;
  }
}
