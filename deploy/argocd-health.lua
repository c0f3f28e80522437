-- Argo CD health check for kubesweep.io/Sweep. Install it in argocd-cm as
-- resource.customizations.health.kubesweep.io_Sweep (see docs/install.md "Argo CD").
-- Finished and Stopped sweeps are done as asked: Healthy. Paused and Cancelled ones were halted
-- on purpose and can be resumed with spec.state: running: Suspended. Failed and Crashed need a
-- person: Degraded, with the Ready condition's message.
local hs = {}
local function ready_message(status)
  if status.conditions ~= nil then
    for _, condition in ipairs(status.conditions) do
      if condition.type == "Ready" and condition.message ~= nil and condition.message ~= "" then
        return condition.message
      end
    end
  end
  return nil
end

if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the kubesweep operator to pick the sweep up"
  return hs
end

local phase = obj.status.phase
if obj.metadata ~= nil and obj.status.observedGeneration ~= nil and obj.metadata.generation ~= nil
    and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "The operator has not acted on the latest spec yet"
  return hs
end

local runs = obj.status.runs or {}
local summary = string.format("%s: %d running, %d finished, %d failed",
  phase, runs.running or 0, runs.finished or 0, runs.failed or 0)

if phase == "Finished" or phase == "Stopped" then
  hs.status = "Healthy"
elseif phase == "Running" or phase == "Stopping" then
  hs.status = "Progressing"
elseif phase == "Paused" or phase == "Cancelled" then
  hs.status = "Suspended"
elseif phase == "Failed" or phase == "Crashed" then
  hs.status = "Degraded"
  summary = ready_message(obj.status) or summary
else
  hs.status = "Unknown"
end
hs.message = summary
return hs
