-- Health of an Argo CD Application as a child of another (app of apps), for the parent's
-- sync waves: a child is Healthy only once its last sync succeeded, it is Synced and its own
-- resources are Healthy, so that the next wave (the operator after the CRDs) waits for it.
-- Argo CD itself stopped assessing Applications in 1.8; without a check a child counts as
-- Healthy as soon as it exists.
--
--   Healthy      sync status Synced and health Healthy
--   Progressing  no status yet; a sync running; Healthy but not Synced (yet); health
--                Progressing, Missing (resources not created yet) or Unknown
--   Degraded     the last sync failed or errored; health Degraded
--   Suspended    health Suspended
--
-- Argo CD runs checks from argocd-cm in gopher-lua (Lua 5.1) with only the base and table
-- libraries (no string, math or io; os has time and date only): keep to those.
local hs = {}

local status = obj.status or {}
local health = status.health or {}
local sync = status.sync or {}
local operation = status.operationState or {}

-- "prefix: message", or the prefix alone when there is no message.
local function with_message(prefix, message)
  if message ~= nil and message ~= "" then
    return prefix .. ": " .. message
  end
  return prefix
end

if operation.phase == "Running" or operation.phase == "Terminating" then
  hs.status = "Progressing"
  hs.message = with_message("Sync " .. operation.phase, operation.message)
  return hs
end

if operation.phase == "Failed" or operation.phase == "Error" then
  hs.status = "Degraded"
  hs.message = with_message("Sync " .. operation.phase, operation.message)
  return hs
end

if health.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the application's first health assessment"
  return hs
end

if health.status == "Healthy" then
  if sync.status == "Synced" then
    hs.status = "Healthy"
    hs.message = with_message("Synced and healthy", health.message)
  else
    hs.status = "Progressing"
    hs.message = "Healthy, sync status " .. (sync.status or "not known yet")
  end
  return hs
end

if health.status == "Degraded" or health.status == "Suspended" or health.status == "Progressing" then
  hs.status = health.status
else
  -- Missing (nothing created yet) and Unknown settle as the application syncs.
  hs.status = "Progressing"
end
hs.message = with_message("Health " .. health.status, health.message)
return hs
