// Topic exchange: binding keys are dot-separated words where `*` matches exactly one word and `#` zero
// or more. Bindings live in a trie of words; matches are cached per routing key until the bindings change.
import type { Message } from '../message.js';
import { type Binding, type Destination, Exchange, type RouteCollector } from './exchange.js';

class TrieNode {
  readonly children = new Map<string, TrieNode>();
  /** Destinations with the number of bindings that end here for each. */
  readonly destinations = new Map<Destination, number>();
}

const CACHE_LIMIT = 4096;

/** The words of a key; the empty key has none (RabbitMQ), while '.' is two empty words. */
function words(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

export class TopicExchange extends Exchange {
  readonly type = 'topic';
  private readonly root = new TrieNode();
  private readonly cache = new Map<string, Destination[]>();

  addRoute(binding: Binding): void {
    let node = this.root;
    for (const word of words(binding.routingKey)) {
      let next = node.children.get(word);
      if (!next) {
        next = new TrieNode();
        node.children.set(word, next);
      }
      node = next;
    }
    node.destinations.set(binding.destination, (node.destinations.get(binding.destination) ?? 0) + 1);
    this.cache.clear();
  }

  removeRoute(binding: Binding): void {
    const path: TrieNode[] = [this.root];
    const keyWords = words(binding.routingKey);
    for (const word of keyWords) {
      const next = path[path.length - 1].children.get(word);
      if (!next) return;
      path.push(next);
    }
    const node = path[path.length - 1];
    const n = (node.destinations.get(binding.destination) ?? 0) - 1;
    if (n > 0) node.destinations.set(binding.destination, n);
    else node.destinations.delete(binding.destination);
    // Prune empty nodes from the leaf up.
    for (let i = keyWords.length; i > 0; i--) {
      const child = path[i];
      if (child.destinations.size > 0 || child.children.size > 0) break;
      path[i - 1].children.delete(keyWords[i - 1]);
    }
    this.cache.clear();
  }

  route(message: Message, routingKey: string, out: RouteCollector): void {
    let matched = this.cache.get(routingKey);
    if (matched === undefined) {
      const found = new Set<Destination>();
      match(this.root, words(routingKey), 0, found);
      matched = [...found];
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(routingKey, matched);
    }
    for (let i = 0; i < matched.length; i++) out.add(matched[i], message, routingKey);
  }
}

function match(node: TrieNode, words: string[], i: number, found: Set<Destination>): void {
  const hash = node.children.get('#');
  if (i === words.length) {
    for (const d of node.destinations.keys()) found.add(d);
    // A trailing `#` matches zero words.
    if (hash) match(hash, words, i, found);
    return;
  }
  const exact = node.children.get(words[i]);
  if (exact) match(exact, words, i + 1, found);
  const star = node.children.get('*');
  if (star) match(star, words, i + 1, found);
  if (hash) {
    // `#` swallows zero or more words.
    for (let j = i; j <= words.length; j++) match(hash, words, j, found);
  }
}
