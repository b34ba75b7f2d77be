import type { TableData } from '../protocol/table/PartitionTable.js';
import { BATCH_ENTRY_FIELDS } from '../protocol/wire/messages.js';
import type { WireMessage } from '../transport/Transport.js';

/** One message as a trace line shows it: its type and what identifies it. */
export function describeMessage(msg: WireMessage): string {
  switch (msg.t) {
    case 'op':
      return `op ${msg.o} ${msg.k} id=${msg.id}`;
    case 'res':
      return `res id=${msg.id}`;
    case 'err':
      return `err ${msg.code} id=${msg.id ?? '-'}`;
    case 'replBatch': {
      const es = msg.es as unknown[];
      const parts: string[] = [];
      for (let i = 0; i < es.length; i += BATCH_ENTRY_FIELDS)
        parts.push(`p${es[i]} e${es[i + 1]} s${es[i + 2]}`);
      return `repl ${parts.join(', ')}`;
    }
    case 'replAcks': {
      const as = msg.as as number[];
      const parts: string[] = [];
      for (let i = 0; i < as.length; i += 3) parts.push(`p${as[i]} e${as[i + 1]} s${as[i + 2]}`);
      return `replAck ${parts.join(', ')}`;
    }
    case 'snap':
      return `snap p${msg.p} e${msg.e} g${msg.g} ${msg.i}${msg.last === true ? ' last' : ''}`;
    case 'hb':
    case 'hbAck':
      return `${msg.t} term${msg.term}`;
    case 'tablePush':
    case 'tableUpdate':
    case 'table':
    case 'joined': {
      const t = msg.table as TableData;
      return `${msg.t} ${t.term}.${t.version}`;
    }
    default:
      return `${msg.t} tv${msg.tv ?? '-'}`;
  }
}
