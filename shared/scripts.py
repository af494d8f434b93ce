"""Lua scripts: each job transition happens whole or not at all, whatever runs twice."""

CREATE_JOB = """
-- KEYS: job hash, owner listing, active set, order counter
-- ARGV: job id, now (µs), ttl seconds, max active jobs, then field/value pairs
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then
  return 0
end
local now = tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[4]) or '0')
local order = math.max(now, last + 1)
redis.call('SET', KEYS[4], string.format('%.0f', order), 'EX', ARGV[3])
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], order, ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return 1
"""

START_CHUNK = """
-- KEYS: job hash, done set; ARGV: chunk index, now (s), most attempts
-- a ChunkStart value: 'run', 'poison' past its attempts, 'done', 'ended' (job terminal), 'gone'
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'gone' end
if status ~= 'queued' and status ~= 'running' then return 'ended' end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 'done' end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts:' .. ARGV[1], 1)
if attempts > tonumber(ARGV[3]) then return 'poison' end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[2])
end
return 'run'
"""

FINISH_CHUNK = """
-- KEYS: job hash, done set, result key, input key, active set
-- ARGV: chunk index, rows in chunk, result bytes, now (s), ttl seconds, job id
-- a ChunkFinish value: 'finished' when this chunk completed the job, 'recorded', 'duplicate', 'ended', 'gone'
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'gone' end
if status ~= 'queued' and status ~= 'running' then return 'ended' end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 'duplicate' end
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[5])
redis.call('DEL', KEYS[4])
redis.call('HINCRBY', KEYS[1], 'rows_done', ARGV[2])
local done = redis.call('HINCRBY', KEYS[1], 'chunks_done', 1)
if done >= tonumber(redis.call('HGET', KEYS[1], 'chunks_total')) then
  redis.call('HSET', KEYS[1], 'status', 'succeeded', 'finished_at', ARGV[4])
  redis.call('ZREM', KEYS[5], ARGV[6])
  return 'finished'
end
return 'recorded'
"""

END_JOB = """
-- KEYS: job hash, active set; ARGV: new status, now (s), error json, job id
-- {EndVerdict, status after}: {'ended', new status}, {'already', its terminal status}, or {'gone'}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'gone'} end
if status ~= 'queued' and status ~= 'running' then return {'already', status} end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[3]) end
redis.call('ZREM', KEYS[2], ARGV[4])
return {'ended', ARGV[1]}
"""

SCHEDULE_JOB = """
-- KEYS: owners ring, owners set, the owner's job ring, scheduled-chunks counter
-- ARGV: job id, owner, chunks, ttl seconds
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[4])
if redis.call('SADD', KEYS[2], ARGV[2]) == 1 then redis.call('RPUSH', KEYS[1], ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('INCRBY', KEYS[4], ARGV[3])
redis.call('EXPIRE', KEYS[4], ARGV[4])
return 1
"""

TAKE_CHUNKS = """
-- KEYS: owners ring, owners set, scheduled-chunks counter, the bulk lane's Celery list
-- ARGV: chunks the bulk lane may hold, key prefix, ttl seconds
-- Round-robin across owners, then across each owner's jobs, one chunk per turn, until the lane holds
-- ARGV[1] messages. Marks each chunk dispatched; answers job id, index, job id, index, ...
local room = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[4])
local out = {}
while room > 0 do
  local owner = redis.call('LPOP', KEYS[1])
  if not owner then break end
  local ring = ARGV[2] .. 'sched:owner:' .. owner
  local job = redis.call('LPOP', ring)
  if job then
    local jk = ARGV[2] .. 'job:' .. job
    local status = redis.call('HGET', jk, 'status')
    local total = tonumber(redis.call('HGET', jk, 'chunks_total') or '0')
    local sent = tonumber(redis.call('HGET', jk, 'dispatched') or '0')
    if status == 'queued' or status == 'running' then
      if sent < total then
        redis.call('HSET', jk, 'dispatched', sent + 1)
        out[#out + 1] = job
        out[#out + 1] = sent
        room = room - 1
        sent = sent + 1
        redis.call('DECR', KEYS[3])
      end
      if sent < total then redis.call('RPUSH', ring, job) end
    elseif total > sent then
      redis.call('DECRBY', KEYS[3], total - sent)  -- an ended job leaves with its chunks never sent
    end
  end
  if redis.call('LLEN', ring) > 0 then
    redis.call('RPUSH', KEYS[1], owner)
    redis.call('EXPIRE', ring, ARGV[3])
  else
    redis.call('SREM', KEYS[2], owner)
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return out
"""
