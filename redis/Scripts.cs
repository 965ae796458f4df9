namespace RpcGen.Redis;

/// <summary>
/// The store's Lua scripts: each runs atomically on the Redis server, so a claim's read and write can never interleave
/// with another server's. Per call id a hash: <c>m</c> method, <c>f</c> argument fingerprint, <c>t</c> fencing token,
/// <c>l</c> lease end, <c>x</c> when the entry may go (ms, the store's clock), and once answered <c>s</c> status,
/// <c>e</c> message, <c>p</c> pushback, <c>b</c> body, <c>d</c> metadata. The index, a sorted set of the hash keys
/// scored by <c>x</c>, bounds and sweeps them; key TTLs are a backstop (a little longer than <c>x</c>).
/// </summary>
internal static class Scripts
{
    // KEYS: hash, index. ARGV: method, fingerprint, token, now, lease end, window, capacity, ttl.
    public const string Claim = """
        local h, idx = KEYS[1], KEYS[2]
        local now = tonumber(ARGV[4])
        local row = redis.call('HMGET', h, 'm', 'f', 't', 'l', 'x', 's', 'e', 'p', 'b', 'd')
        local x = tonumber(ARGV[5]) + tonumber(ARGV[6])
        if row[1] and tonumber(row[5]) >= now then
          if row[1] ~= ARGV[1] or row[2] ~= ARGV[2] then return {'conflict'} end
          if row[6] then return {'completed', row[6], row[7] or '', row[8] or '', row[9] or '', row[10] or ''} end
          if tonumber(row[4]) >= now then return {'running'} end
          redis.call('HSET', h, 't', ARGV[3], 'l', ARGV[5], 'x', x)
          redis.call('PEXPIRE', h, ARGV[8])
          redis.call('ZADD', idx, x, h)
          return {'claimed', 0}
        end
        local evicted = 0
        local capacity = tonumber(ARGV[7])
        if not row[1] and redis.call('ZCARD', idx) >= capacity then
          local gone = redis.call('ZRANGEBYSCORE', idx, '-inf', '(' .. ARGV[4], 'LIMIT', 0, 1000)
          for _, k in ipairs(gone) do redis.call('DEL', k); redis.call('ZREM', idx, k) end
          if redis.call('ZCARD', idx) >= capacity then
            for _, k in ipairs(redis.call('ZRANGE', idx, 0, 99)) do
              if redis.call('ZCARD', idx) < capacity then break end
              if redis.call('EXISTS', k) == 0 then
                redis.call('ZREM', idx, k)
              elseif redis.call('HEXISTS', k, 's') == 1 then
                redis.call('DEL', k); redis.call('ZREM', idx, k); evicted = evicted + 1
              end
            end
          end
          if redis.call('ZCARD', idx) >= capacity then return {'full', evicted} end
        end
        redis.call('DEL', h)
        redis.call('HSET', h, 'm', ARGV[1], 'f', ARGV[2], 't', ARGV[3], 'l', ARGV[5], 'x', x)
        redis.call('PEXPIRE', h, ARGV[8])
        redis.call('ZADD', idx, x, h)
        return {'claimed', evicted}
        """;

    // KEYS: hash, index. ARGV: token, status, message, has message, pushback ('' for none), body, metadata, x, ttl.
    public const string Complete = """
        local row = redis.call('HMGET', KEYS[1], 't', 's')
        if not row[1] or row[1] ~= ARGV[1] then return 0 end
        if row[2] then return 1 end
        redis.call('HSET', KEYS[1], 's', ARGV[2], 'b', ARGV[6], 'd', ARGV[7], 'x', ARGV[8])
        if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'e', ARGV[3]) end
        if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'p', ARGV[5]) end
        redis.call('PEXPIRE', KEYS[1], ARGV[9])
        redis.call('ZADD', KEYS[2], ARGV[8], KEYS[1])
        return 1
        """;

    // KEYS: hash, index. ARGV: token, lease end, x, ttl.
    public const string Renew = """
        local row = redis.call('HMGET', KEYS[1], 't', 's')
        if not row[1] or row[1] ~= ARGV[1] or row[2] then return 0 end
        redis.call('HSET', KEYS[1], 'l', ARGV[2], 'x', ARGV[3])
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
        return 1
        """;

    // KEYS: hash, index. ARGV: token.
    public const string Abandon = """
        local row = redis.call('HMGET', KEYS[1], 't', 's')
        if not row[1] or row[1] ~= ARGV[1] or row[2] then return 0 end
        redis.call('DEL', KEYS[1])
        redis.call('ZREM', KEYS[2], KEYS[1])
        return 1
        """;

    // KEYS: index. ARGV: now, limit.
    public const string Sweep = """
        local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
        for _, k in ipairs(gone) do redis.call('DEL', k) end
        if #gone > 0 then redis.call('ZREM', KEYS[1], unpack(gone)) end
        return #gone
        """;
}
