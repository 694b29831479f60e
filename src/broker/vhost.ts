// A virtual host: the namespace of exchanges, queues and bindings. Routing and declarations arrive with
// the broker-core work; for now a vhost is what connection.open names and checks.
export class VirtualHost {
  constructor(readonly name: string) {}
}
