import Spec

/// The owner string of one host-port lease: `Instance/<name>@<template hash>/<replica>/<port name>`.
/// The template hash makes a replaced instance's new replicas lease fresh ports while the old ones
/// still hold theirs; owners in any other format belong to someone else and are never touched.
public struct PortOwner: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var instance: String
    public var templateHash: String
    public var replica: Int
    public var port: String

    public init(instance: String, templateHash: String, replica: Int, port: String) {
        self.instance = instance
        self.templateHash = templateHash
        self.replica = replica
        self.port = port
    }

    public init?(_ text: String) {
        guard text.hasPrefix("Instance/") else { return nil }
        let parts = text.dropFirst("Instance/".count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, let at = parts[0].firstIndex(of: "@"), let replica = Int(parts[1]), replica >= 0,
              !parts[2].isEmpty else { return nil }
        self.instance = String(parts[0][..<at])
        self.templateHash = String(parts[0][parts[0].index(after: at)...])
        self.replica = replica
        self.port = String(parts[2])
        guard !instance.isEmpty, !templateHash.isEmpty else { return nil }
    }

    public var description: String { "Instance/\(instance)@\(templateHash)/\(replica)/\(port)" }

    public static func < (lhs: PortOwner, rhs: PortOwner) -> Bool {
        (lhs.instance, lhs.templateHash, lhs.replica, lhs.port) < (rhs.instance, rhs.templateHash, rhs.replica, rhs.port)
    }

    /// Every lease an instance needs: one per replica per named port, in a stable order.
    public static func owners(of instance: Instance) -> [PortOwner] {
        let hash = instance.templateHash
        return (0..<instance.replicas).flatMap { replica in
            instance.ports.map { PortOwner(instance: instance.name, templateHash: hash, replica: replica, port: $0.name) }
        }
    }
}
