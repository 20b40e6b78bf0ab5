import RedisClient

/// Lua scripts that make each apply step atomic and fenced: every script first checks that the
/// lease key still holds the caller's lease value, and refuses with LEASE_LOST otherwise.
enum RedisScripts {
    static let leaseCheck = """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then
          return redis.error_reply('LEASE_LOST the apply lease is no longer held by this process')
        end
        """

    /// KEYS: lease, ports. ARGV: lease value, low, high, then owner/preferred pairs (0 = none).
    /// All or nothing: every port is decided before the first write, so a request that cannot be
    /// met (range exhausted) leaves the leases exactly as they were.
    static let allocatePorts = RedisScript(leaseCheck + """

        local leases = redis.call('HGETALL', KEYS[2])
        local used, held = {}, {}
        for i = 1, #leases, 2 do
          local port, owner = leases[i], leases[i + 1]
          used[port] = true
          if held[owner] == nil or tonumber(port) < tonumber(held[owner]) then held[owner] = port end
        end
        local low, high = tonumber(ARGV[2]), tonumber(ARGV[3])
        local cursor = low
        local out, writes = {}, {}
        for i = 4, #ARGV, 2 do
          local owner, preferred = ARGV[i], ARGV[i + 1]
          local port = held[owner]
          if port == nil then
            if preferred ~= '0' and not used[preferred] then
              port = preferred
            else
              while cursor <= high and used[tostring(cursor)] do cursor = cursor + 1 end
              if cursor > high then
                return redis.error_reply('PORTS_EXHAUSTED no free host port left in ' .. low .. '-' .. high)
              end
              port = tostring(cursor)
            end
            writes[#writes + 1] = port
            writes[#writes + 1] = owner
            used[port] = true
            held[owner] = port
          end
          out[#out + 1] = owner
          out[#out + 1] = port
        end
        if #writes > 0 then redis.call('HSET', KEYS[2], unpack(writes)) end
        return out
        """)

    /// KEYS: lease, ports. ARGV: lease value, then port/owner pairs.
    static let freePorts = RedisScript(leaseCheck + """

        local freed = 0
        for i = 2, #ARGV, 2 do
          if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[i + 1] then
            redis.call('HDEL', KEYS[2], ARGV[i])
            freed = freed + 1
          end
        end
        return freed
        """)

    /// KEYS: lease, hash. ARGV: lease value, then field/value pairs.
    static let putFields = RedisScript(leaseCheck + """

        for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
        return #ARGV / 2
        """)

    /// KEYS: lease, hash. ARGV: lease value, then fields.
    static let deleteFields = RedisScript(leaseCheck + """

        local n = 0
        for i = 2, #ARGV do n = n + redis.call('HDEL', KEYS[2], ARGV[i]) end
        return n
        """)

    /// KEYS: lease, routetable, generation, hash, events. ARGV: lease value, expected generation,
    /// document, content hash, revision, announcement JSON.
    static let publish = RedisScript(leaseCheck + """

        local current = tonumber(redis.call('GET', KEYS[3]) or '0')
        if current ~= tonumber(ARGV[2]) then
          return redis.error_reply('STALE_GENERATION the route table is at generation ' .. current .. ', expected ' .. ARGV[2])
        end
        local generation = current + 1
        redis.call('SET', KEYS[2], ARGV[3])
        redis.call('SET', KEYS[3], generation)
        redis.call('SET', KEYS[4], ARGV[4])
        redis.call('XADD', KEYS[5], 'MAXLEN', '~', '10000', '*', 'type', 'routetable',
                   'generation', generation, 'revision', ARGV[5], 'hash', ARGV[4])
        redis.call('PUBLISH', KEYS[5], ARGV[6])
        return generation
        """)

    /// KEYS: lease, certificate hash, certificate index, events. ARGV: lease value, name,
    /// announcement JSON, then field/value pairs. Replaces the whole hash so no field of an older
    /// certificate survives next to a newer key.
    static let putCertificate = RedisScript(leaseCheck + """

        redis.call('DEL', KEYS[2])
        for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
        redis.call('SADD', KEYS[3], ARGV[2])
        local fingerprint = redis.call('HGET', KEYS[2], 'fingerprint') or ''
        redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10000', '*', 'type', 'certificate', 'name', ARGV[2], 'fingerprint', fingerprint)
        redis.call('PUBLISH', KEYS[4], ARGV[3])
        return 1
        """)

    /// KEYS: lease, certificate hash, certificate index. ARGV: lease value, name.
    static let deleteCertificate = RedisScript(leaseCheck + """

        redis.call('DEL', KEYS[2])
        redis.call('SREM', KEYS[3], ARGV[2])
        return 1
        """)

    /// KEYS: lock. ARGV: token. Compare-and-delete.
    static let releaseLock = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)

    /// KEYS: lease. ARGV: lease value, ttl ms.
    static let renewLease = RedisScript(leaseCheck + """

        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return 1
        """)

    /// KEYS: lease. ARGV: lease value.
    static let releaseLease = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)
}
